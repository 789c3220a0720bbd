/**
 * Tools in OpenAI's wire format: the checks OpenAI makes on tool turns and `tool_choice` (each a 400
 * naming the field), the request's tool fields as drivers take them, and tool calls in answers and chunks.
 */
import type { z } from 'zod';
import type { CompletionRequest, CompletionResponse, ToolCallDelta, ToolChoice } from '../core/types.js';

interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface WireMessage {
  role: string;
  tool_calls?: WireToolCall[] | null | undefined;
  tool_call_id?: string | null | undefined;
}

interface WireFunction {
  name: string;
  description?: string | null | undefined;
  parameters?: Record<string, unknown> | null | undefined;
}

interface WireTools {
  tools?: Array<{ type: string; function?: WireFunction | undefined }> | null | undefined;
  tool_choice?: 'auto' | 'none' | 'required' | { type: string; function?: { name: string } } | null | undefined;
  parallel_tool_calls?: boolean | null | undefined;
}

/**
 * A tool message answers a call of the assistant message just before it (other tool messages may come
 * between), and every call gets its answer: the model could not make sense of the turn otherwise.
 */
export function checkToolTurns(messages: WireMessage[], ctx: z.RefinementCtx): void {
  let open: { index: number; ids: Set<string> } | null = null;
  const unanswered = (): void => {
    if (open && open.ids.size > 0) {
      ctx.addIssue({ code: 'custom', path: [open.index, 'tool_calls'], message: `no tool message answers ${[...open.ids].join(', ')}` });
    }
  };
  messages.forEach((message, index) => {
    if (message.role === 'tool') {
      const id = message.tool_call_id;
      if (!id) ctx.addIssue({ code: 'custom', path: [index, 'tool_call_id'], message: 'is required on a tool message' });
      else if (!open) ctx.addIssue({ code: 'custom', path: [index], message: 'a tool message must follow an assistant message with tool_calls' });
      else if (!open.ids.delete(id)) ctx.addIssue({ code: 'custom', path: [index, 'tool_call_id'], message: `answers no call of messages[${open.index}]: "${id}"` });
      return;
    }
    unanswered();
    open = message.role === 'assistant' && message.tool_calls?.length ? { index, ids: new Set(message.tool_calls.map((call) => call.id)) } : null;
  });
  unanswered();
}

/** A named tool_choice must name one of the tools, and `required` needs some. */
export function checkToolChoice(body: WireTools, ctx: z.RefinementCtx): void {
  const choice = body.tool_choice;
  const names = functionTools(body).map((tool) => tool.name);
  const named = typeof choice === 'object' && choice !== null && choice.type === 'function' ? choice.function?.name : undefined;
  if (named !== undefined && !names.includes(named)) {
    ctx.addIssue({ code: 'custom', path: ['tool_choice', 'function', 'name'], message: `names no tool of this request: "${named}"` });
  } else if (choice === 'required' && (body.tools ?? []).length === 0) {
    ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: 'is "required" but the request has no tools' });
  }
}

/** A message's tool fields as drivers take them. */
export function toolFields(message: WireMessage): { toolCalls?: NonNullable<CompletionResponse['toolCalls']>; toolCallId?: string } {
  if (message.role === 'tool' && message.tool_call_id) return { toolCallId: message.tool_call_id };
  if (message.role === 'assistant' && message.tool_calls?.length) {
    return { toolCalls: message.tool_calls.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments })) };
  }
  return {};
}

/** The request's tools, tool choice and parallel_tool_calls as the CompletionRequest fields. */
export function toolRequest(body: WireTools): Pick<CompletionRequest, 'tools' | 'toolChoice' | 'parallelToolCalls'> {
  const tools = functionTools(body);
  if (tools.length === 0) return {};
  const choice = body.tool_choice;
  // Choices of other kinds leave the decision to the model.
  const toolChoice: ToolChoice | undefined = typeof choice === 'object' && choice !== null ? (choice.type === 'function' && choice.function ? { name: choice.function.name } : undefined) : (choice ?? undefined);
  return {
    tools: tools.map((tool) => ({
      name: tool.name,
      ...(tool.description ? { description: tool.description } : {}),
      ...(tool.parameters ? { parameters: tool.parameters } : {}),
    })),
    ...(toolChoice === undefined ? {} : { toolChoice }),
    ...(body.parallel_tool_calls == null ? {} : { parallelToolCalls: body.parallel_tool_calls }),
  };
}

/** The request's function tools. */
function functionTools(body: WireTools): WireFunction[] {
  return (body.tools ?? []).flatMap((tool) => (tool.type === 'function' && tool.function ? [tool.function] : []));
}

/** An answer's calls as `message.tool_calls` (content null when no text came before them), or nothing. */
export function toolCallsOf(response: CompletionResponse): { content?: string | null; tool_calls?: WireToolCall[] } {
  if (!response.toolCalls?.length) return {};
  return {
    content: response.text === '' ? null : response.text,
    tool_calls: response.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
  };
}

/** A streamed piece of a call as `delta.tool_calls`: the first piece of a call has its id, type and name. */
export function toolCallChunkDelta(delta: ToolCallDelta): { tool_calls: unknown[] } {
  const head = delta.id === undefined ? {} : { id: delta.id, type: 'function' };
  return { tool_calls: [{ index: delta.index, ...head, function: { ...(delta.name === undefined ? {} : { name: delta.name }), arguments: delta.arguments } }] };
}
