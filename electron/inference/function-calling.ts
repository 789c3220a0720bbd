/**
 * OpenAI tools on node-llama-cpp's function calling. The model's chat wrapper writes the functions into the
 * prompt and, once the model starts a call, node-llama-cpp constrains the name and the arguments with a
 * grammar built from their JSON schema. `LlamaChat.generateResponse` stops at the calls and returns them
 * without running anything: the client runs its tools and sends the results back as `tool` messages, which
 * become function-call segments (with their results) of the model's turn, so the model continues from them.
 */
import { randomUUID } from 'node:crypto';
import {
  ChatWrapper,
  type ChatHistoryItem,
  type ChatModelFunctionCall,
  type ChatModelFunctions,
  type ChatModelResponse,
  type GbnfJsonSchema,
} from 'node-llama-cpp';
import { DriverError } from '../core/errors.js';
import { messageText, type ChatMessage, type ToolCall, type ToolCallDelta, type ToolChoice, type ToolSpec } from '../core/types.js';
import { grammarSchema } from './json-schema-support.js';

/**
 * True when the chat wrapper has a function-call syntax of its own (from its template, or a Jinja template
 * that declares tools). The generic `||call:` fallback every wrapper has is not counted: a model never
 * trained on it would call tools at random, if at all.
 */
export function supportsFunctionCalling(wrapper: ChatWrapper): boolean {
  return wrapper.settings.functions !== ChatWrapper.defaultSettings.functions;
}

/** Whether the template lets the model make several calls in one turn. */
export function supportsParallelCalls(wrapper: ChatWrapper): boolean {
  return wrapper.settings.functions.parallelism != null;
}

/** How a generation offers functions to the model. */
export interface FunctionSetup {
  functions: ChatModelFunctions;
  /** The model must call (one of) them: the response starts inside a call. */
  forced: boolean;
  /** At most this many calls in the turn; undefined: as many as the template allows. */
  maxParallelFunctionCalls?: number;
}

/** The functions a request offers under its tool choice; null when it offers none (or forbids calling). */
export function functionSetup(tools: ToolSpec[] | undefined, choice: ToolChoice | undefined, parallel: boolean | undefined): FunctionSetup | null {
  if (!tools || tools.length === 0 || choice === 'none') return null;
  // A named function is forced by offering only it.
  const offered = typeof choice === 'object' ? tools.filter((tool) => tool.name === choice.name) : tools;
  if (offered.length === 0) return null;
  const functions: Record<string, ChatModelFunctions[string]> = {};
  for (const tool of offered) {
    functions[tool.name] = {
      ...(tool.description ? { description: tool.description } : {}),
      ...(hasParameters(tool.parameters) ? { params: enforceable(tool.name, tool.parameters!) } : {}),
    };
  }
  return {
    functions,
    forced: choice === 'required' || typeof choice === 'object',
    ...(parallel === false ? { maxParallelFunctionCalls: 1 } : {}),
  };
}

/** An object schema without properties takes no arguments; node-llama-cpp then generates none. */
function hasParameters(schema: Record<string, unknown> | undefined): boolean {
  if (!schema) return false;
  if (schema.type === 'object' && (schema.properties === undefined || Object.keys(schema.properties as object).length === 0) && !schema.anyOf && !schema.oneOf) return false;
  return true;
}

/**
 * The chat wrapper with the response starting inside a function call: node-llama-cpp generates the function
 * name under its grammar at once, so a call is certain. Everything else is the wrapper's own.
 */
export function forcedCallWrapper(inner: ChatWrapper): ChatWrapper {
  const wrapper = Object.create(inner) as ChatWrapper;
  wrapper.generateContextState = (options) => ({
    ...inner.generateContextState(options),
    functionCall: { initiallyEngaged: true, disengageInitiallyEngaged: [] },
  }) as ReturnType<ChatWrapper['generateContextState']>;
  return wrapper;
}

/**
 * The messages as node-llama-cpp's chat history. An assistant message's tool calls become function-call
 * segments carrying the results of the tool messages that answer them; later rounds of calls and the text
 * between them join the same model turn, as node-llama-cpp records a turn that called functions. A history
 * that ends on tool results ends with that model turn, which the generation continues; otherwise an empty
 * model turn is added for the answer.
 */
export function toChatHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const calls = new Map<string, ChatModelFunctionCall>();
  for (const message of messages) {
    const last = history.at(-1);
    switch (message.role) {
      case 'system': history.push({ type: 'system', text: messageText(message) }); break;
      case 'user': history.push({ type: 'user', text: messageText(message) }); break;
      case 'assistant': {
        const text = messageText(message);
        const segments: ChatModelResponse['response'] = text === '' ? [] : [text];
        (message.toolCalls ?? []).forEach((call, i) => {
          const segment: ChatModelFunctionCall = { type: 'functionCall', name: call.name, params: parseJson(call.arguments), result: undefined, ...(i === 0 ? { startsNewChunk: true } : {}) };
          calls.set(call.id, segment);
          segments.push(segment);
        });
        if (last?.type === 'model' && endsWithCall(last)) last.response.push(...segments);
        else history.push({ type: 'model', response: segments });
        break;
      }
      case 'tool': {
        const call = message.toolCallId === undefined ? undefined : calls.get(message.toolCallId);
        // The API refuses a tool message that answers no call; a stray one still reaches the model as text.
        if (call) call.result = parseJson(messageText(message));
        else history.push({ type: 'user', text: `Tool result: ${messageText(message)}` });
        break;
      }
      default:
        message.role satisfies never;
    }
  }
  const last = history.at(-1);
  if (!(last?.type === 'model' && endsWithCall(last))) history.push({ type: 'model', response: [] });
  return history;
}

function endsWithCall(item: ChatModelResponse): boolean {
  const segment = item.response.at(-1);
  return typeof segment === 'object' && segment.type === 'functionCall';
}

/** JSON text as a value, or the text itself when it is not JSON (a tool may answer in prose). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Collects the calls of one generation from node-llama-cpp's callbacks and streams them as deltas: the
 * first delta of a call has its id and name, the next ones the arguments as the model writes them. The
 * grammar's end marker (four newlines after the arguments) is held back and never sent.
 */
export class ToolCallCollector {
  private readonly calls: ToolCall[] = [];
  /** Newlines at the end of the arguments so far, sent only when more text follows them. */
  private pending = '';

  constructor(private readonly emit: (delta: ToolCallDelta) => void) {}

  /** A chunk of a call's arguments (node-llama-cpp's onFunctionCallParamsChunk). */
  onParamsChunk(index: number, name: string, chunk: string): void {
    this.start(index, name);
    const text = this.pending + chunk;
    const kept = text.replace(/\n+$/, '');
    this.pending = text.slice(kept.length);
    if (kept === '') return;
    this.calls[index]!.arguments += kept;
    this.emit({ index, arguments: kept });
  }

  /** A call is complete (node-llama-cpp's onFunctionCall); a call without arguments gets `{}`. */
  onCall(index: number, name: string): void {
    this.start(index, name);
    this.pending = '';
    const call = this.calls[index]!;
    if (call.arguments === '') {
      call.arguments = '{}';
      this.emit({ index, arguments: '{}' });
    }
  }

  /** The calls made, in order. */
  result(): ToolCall[] {
    return this.calls.slice();
  }

  private start(index: number, name: string): void {
    if (this.calls[index]) return;
    this.pending = '';
    const call: ToolCall = { id: `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`, name, arguments: '' };
    this.calls[index] = call;
    this.emit({ index, id: call.id, name, arguments: '' });
  }
}

/**
 * A function's parameters as the call grammar takes them. node-llama-cpp ignores what its grammar cannot
 * enforce, so arguments could break the schema the client relies on: such a schema is refused, naming the
 * function and the keyword, as for response_format.
 */
function enforceable(name: string, parameters: Record<string, unknown>): GbnfJsonSchema {
  const checked = grammarSchema(parameters);
  if (!checked.ok) throw new DriverError('invalid_request', `tools: the parameters of function "${name}": ${checked.error}.`);
  // Checked above; node-llama-cpp's compile-time type cannot describe a client's schema.
  return checked.schema as GbnfJsonSchema;
}
