/**
 * Runtime validation of everything that enters the app from a renderer or an HTTP client. The contract
 * says what the types are; these schemas make sure the values really are that before a service sees them.
 */
import { z } from 'zod';
import {
  ATTACHMENT_LIMITS,
  CAPABILITIES,
  IMAGE_TYPES,
  IMPORT_LIMIT_BYTES,
  MAX_PARALLEL,
  PRIVACY_TIERS,
  ROUTING_STRATEGIES,
  type Channel,
  type ChannelRequest,
  type EndpointPreset,
  type Settings,
} from '../contract/index.js';
import { DriverError } from '../core/errors.js';
import { resolveTier } from '../drivers/privacy.js';
import { ServiceError } from './errors.js';

export const tierSchema = z.enum(PRIVACY_TIERS);
const tier = tierSchema;
const strategy = z.enum(ROUTING_STRATEGIES);
const id = z.string().min(1).max(100).regex(/^[A-Za-z0-9_-]+$/, 'must be an id of letters, digits, - and _');
const PRESETS = ['openai', 'openrouter', 'groq', 'together', 'ollama', 'lmstudio', 'llamacpp', 'custom'] as const satisfies readonly EndpointPreset[];
const empty = z.strictObject({});
const httpUrl = z
  .string()
  .max(2000)
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http:// or https:// URL');

const generation = z.strictObject({
  maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  temperature: z.number().min(0).max(2).optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
});

const timeoutMs = z.number().int().min(0).max(3_600_000);
const declared = z.boolean().nullable();

/** The fields a person edits; the id is given, or made from the name when adding. */
const endpointFields = {
  name: z.string().trim().min(1, 'must not be empty').max(100),
  preset: z.enum(PRESETS),
  baseURL: httpUrl,
  model: z.string().trim().max(200),
  contextWindow: z.number().int().min(256).max(10_000_000),
  tier: tier.nullable(),
  capabilities: z.strictObject({ images: declared, tools: declared, embeddings: declared }),
  enabled: z.boolean(),
};

/** A declared tier may only be more permissive than the URL's: checked where the endpoint is defined. */
function checkTier(value: { baseURL: string; tier: string | null }, ctx: z.RefinementCtx): void {
  try {
    resolveTier(value.baseURL, value.tier as Settings['endpoints'][number]['tier']);
  } catch (error) {
    if (!(error instanceof DriverError)) throw error;
    ctx.addIssue({ code: 'custom', message: error.message, path: ['tier'] });
  }
}

export const endpointSchema = z
  .strictObject({
    id,
    ...endpointFields,
    learned: z.strictObject(Object.fromEntries(CAPABILITIES.map((c) => [c, z.boolean().optional()])) as Record<(typeof CAPABILITIES)[number], z.ZodOptional<z.ZodBoolean>>),
  })
  .superRefine(checkTier);

export const endpointInputSchema = z.strictObject({ id: id.optional(), ...endpointFields }).superRefine(checkTier);

const endpoints = z
  .array(endpointSchema)
  .max(50)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((endpoint, index) => {
      if (endpoint.id === 'local') ctx.addIssue({ code: 'custom', message: '"local" names the local engine; choose another id', path: [index, 'id'] });
      if (seen.has(endpoint.id)) ctx.addIssue({ code: 'custom', message: `duplicate endpoint id "${endpoint.id}"`, path: [index, 'id'] });
      seen.add(endpoint.id);
    });
  });

export const settingsSchema = z.strictObject({
  routing: z.strictObject({
    strategy,
    ceiling: tier,
    askBeforeSending: z.boolean(),
    loadTimeoutMs: timeoutMs,
    firstTokenTimeoutMs: timeoutMs,
    idleTimeoutMs: timeoutMs,
    cloudTimeoutMs: z.number().int().min(1000, 'must be at least 1000 ms').max(3_600_000),
    circuitThreshold: z.number().int().min(1).max(100),
    circuitCooldownMs: z.number().int().min(0).max(3_600_000),
  }),
  local: z.strictObject({
    modelPath: z.string().min(1).max(4096).nullable(),
    threads: z.number().int().min(1).max(256).nullable(),
    gpuLayers: z.union([z.literal('auto'), z.number().int().min(0).max(1000)]),
    contextSize: z.number().int().min(128).max(1_048_576).nullable(),
    parallel: z.number().int().min(1).max(MAX_PARALLEL).nullable(),
    embeddingModelPath: z.string().min(1).max(4096).nullable().optional(),
  }),
  endpoints,
  generation: z.strictObject({
    systemPrompt: z.string().max(20_000),
    temperature: z.number().min(0).max(2),
    maxTokens: z.number().int().min(1).max(1_000_000).nullable(),
  }),
  server: z.strictObject({
    enabled: z.boolean(),
    port: z.number().int().min(1024).max(65535),
  }),
  models: z.strictObject({
    dir: z.string().min(1).max(4096).nullable(),
    extraPaths: z.array(z.string().min(1).max(4096)).max(1000),
  }),
});

const settingsPatch = z.strictObject({
  routing: settingsSchema.shape.routing.partial().optional(),
  local: settingsSchema.shape.local.partial().optional(),
  endpoints: endpoints.optional(),
  generation: settingsSchema.shape.generation.partial().optional(),
  server: settingsSchema.shape.server.partial().optional(),
  models: settingsSchema.shape.models.partial().optional(),
});
const modelPath = z.string().trim().min(1, 'must not be empty').max(4096);
const messageText = z.string().max(1_000_000);
export const idSchema = id;
export const pinSchema = z.strictObject({ strategy: strategy.optional(), ceiling: tier.optional(), entryId: id.optional() });

/** A conversation's own answer settings: the same bounds as the app's. */
export const conversationSettingsSchema = z.strictObject({
  systemPrompt: settingsSchema.shape.generation.shape.systemPrompt.optional(),
  temperature: settingsSchema.shape.generation.shape.temperature.optional(),
  maxTokens: z.number().int().min(1).max(1_000_000).optional(),
});

const KB = 1024;
const textAttachment = z.strictObject({
  kind: z.literal('text'),
  name: z.string().min(1).max(255),
  text: z.string().refine((text) => Buffer.byteLength(text) <= ATTACHMENT_LIMITS.textBytes, `a text file may be up to ${ATTACHMENT_LIMITS.textBytes / KB} KB`),
});
const imageAttachment = z
  .strictObject({
    kind: z.literal('image'),
    name: z.string().min(1).max(255),
    mimeType: z.enum(IMAGE_TYPES),
    dataUrl: z.string().regex(/^data:image\/[a-z]+;base64,[A-Za-z0-9+/]*={0,2}$/, 'must be a base64 data: URL of an image'),
  })
  .superRefine((image, ctx) => {
    if (!image.dataUrl.startsWith(`data:${image.mimeType};`)) ctx.addIssue({ code: 'custom', message: `must be a data: URL of ${image.mimeType}`, path: ['dataUrl'] });
    if (base64Bytes(image.dataUrl) > ATTACHMENT_LIMITS.imageBytes) {
      ctx.addIssue({ code: 'custom', message: `an image may be up to ${ATTACHMENT_LIMITS.imageBytes / KB / KB} MB`, path: ['dataUrl'] });
    }
  });
/** Files of one message: text and code quoted, images as image parts. */
export const attachmentsSchema = z
  .array(z.discriminatedUnion('kind', [textAttachment, imageAttachment]))
  .max(ATTACHMENT_LIMITS.perMessage, `at most ${ATTACHMENT_LIMITS.perMessage} files per message`)
  .refine(
    (files) => files.reduce((sum, f) => sum + (f.kind === 'text' ? Buffer.byteLength(f.text) : base64Bytes(f.dataUrl)), 0) <= ATTACHMENT_LIMITS.totalBytes,
    `the files of one message may be up to ${ATTACHMENT_LIMITS.totalBytes / KB / KB} MB together`,
  );

/** Bytes a base64 data: URL decodes to. */
function base64Bytes(dataUrl: string): number {
  const data = dataUrl.slice(dataUrl.indexOf(',') + 1);
  return Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
}
const downloadId = z.string().min(1).max(200).regex(/^[A-Za-z0-9_.-]+$/, 'must be a download id');

/** One schema per channel; a test checks there is one for every channel. */
export const requestSchemas = {
  'app:info': empty,
  'chat:send': z
    .strictObject({
      conversationId: id.optional(),
      content: messageText.trim(),
      attachments: attachmentsSchema.optional(),
      options: generation.optional(),
    })
    // Files alone are a message too.
    .refine((r) => r.content !== '' || (r.attachments?.length ?? 0) > 0, { message: 'must not be empty', path: ['content'] }),
  'chat:retry': z.strictObject({ conversationId: id, messageId: id.optional(), target: z.enum(['same', 'cloud']).optional() }),
  'chat:edit': z.strictObject({ conversationId: id, messageId: id, content: messageText.trim() }),
  'chat:cancel': z.strictObject({ requestId: id }),
  'chat:consent': z.strictObject({ consentId: id, choice: z.enum(['once', 'always', 'keep']) }),
  'conversations:list': empty,
  'conversations:get': z.strictObject({ id }),
  'conversations:create': z.strictObject({ title: z.string().trim().min(1).max(200).optional() }),
  'conversations:rename': z.strictObject({ id, title: z.string().trim().min(1, 'must not be empty').max(200) }),
  'conversations:delete': z.strictObject({ id }),
  'conversations:setPin': z.strictObject({ id, pin: pinSchema.nullable() }),
  'conversations:setSettings': z.strictObject({ id, settings: conversationSettingsSchema }),
  'conversations:selectBranch': z.strictObject({ id, messageId: id }),
  'conversations:search': z.strictObject({ query: z.string().trim().min(1, 'must not be empty').max(200) }),
  'conversations:export': z.strictObject({ ids: z.array(id).min(1).max(100_000).optional(), format: z.enum(['json', 'markdown']) }),
  // The file as read: its own schema (exportFileSchema) is checked by the archive, to say what is wrong with it.
  'conversations:import': z.strictObject({ content: z.string().min(1, 'the file is empty').max(IMPORT_LIMIT_BYTES, 'the file is too large to import') }),
  'router:get': z.strictObject({ conversationId: id.optional() }),
  'router:setStrategy': z.strictObject({ strategy }),
  'router:setCeiling': z.strictObject({ ceiling: tier }),
  'metrics:get': empty,
  'egress:list': z.strictObject({
    endpointId: id.optional(),
    conversationId: z.string().min(1).max(100).optional(),
    since: z.number().int().min(0).optional(),
    until: z.number().int().min(0).optional(),
  }),
  'settings:get': empty,
  'settings:set': z.strictObject({ patch: settingsPatch }),
  'endpoints:save': z.strictObject({ endpoint: endpointInputSchema }),
  'endpoints:remove': z.strictObject({ id }),
  'endpoints:move': z.strictObject({ id, index: z.number().int().min(0).max(49) }),
  'endpoints:setKey': z.strictObject({ id, apiKey: z.string().trim().min(1).max(4096).nullable() }),
  'endpoints:test': z.strictObject({
    id: id.optional(),
    baseURL: httpUrl.optional(),
    model: z.string().min(1).max(200).optional(),
    apiKey: z.string().max(4096).optional(),
  }),
  'engine:status': empty,
  'settings:setHfToken': z.strictObject({ token: z.string().trim().min(1).max(4096).nullable() }),
  'models:list': empty,
  'models:catalog': empty,
  'models:add': z.strictObject({ path: modelPath }),
  'models:pick': empty,
  'models:setActive': z.strictObject({ path: modelPath }),
  'models:delete': z.strictObject({ path: modelPath }),
  'models:download': z.strictObject({
    source: z.string().trim().min(1, 'must not be empty').max(2000),
    quantization: z.string().trim().min(1).max(40).regex(/^[A-Za-z0-9_]+$/, 'must be a quantization name such as Q4_K_M').optional(),
  }),
  'models:downloads': empty,
  'models:pauseDownload': z.strictObject({ id: downloadId }),
  'models:resumeDownload': z.strictObject({ id: downloadId }),
  'models:cancelDownload': z.strictObject({ id: downloadId }),
} satisfies Record<Channel, z.ZodType>;

/** Validates a channel's request; throws INVALID_ARGUMENT naming the first bad field. */
export function parseRequest<C extends Channel>(channel: C, raw: unknown): ChannelRequest<C> {
  const result = requestSchemas[channel].safeParse(raw ?? {});
  if (!result.success) throw invalidArgument(result.error);
  return result.data as ChannelRequest<C>;
}

/** Validates complete settings (after a patch is merged), with field paths rooted at `patch`. */
export function parseSettings(raw: unknown, root = 'patch'): Settings {
  const result = settingsSchema.safeParse(raw);
  if (!result.success) throw invalidArgument(result.error, root);
  return result.data as Settings;
}

function invalidArgument(error: z.ZodError, root?: string): ServiceError {
  const issue = error.issues[0];
  const path = [...(root ? [root] : []), ...(issue?.path ?? []).map(String)].join('.');
  const what = issue?.code === 'unrecognized_keys' ? `unknown field ${(issue as { keys?: string[] }).keys?.join(', ')}` : issue?.message ?? 'invalid';
  return new ServiceError('INVALID_ARGUMENT', path ? `${path}: ${what}` : `Invalid request: ${what}`, path || undefined);
}
