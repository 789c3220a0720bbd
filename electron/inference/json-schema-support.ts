/**
 * Which JSON schemas node-llama-cpp's grammar can enforce. It ignores what it does not know (a `pattern`,
 * an unknown `type`, `allOf`) and decodes something that need not conform; for structured output that is
 * worse than a refusal, so such a schema is refused here with the keyword and where it is. Two common
 * spellings it lacks are rewritten instead: `anyOf` becomes `oneOf` (output matching one branch satisfies
 * anyOf) and `#/definitions/` references become `#/$defs/` (what zod and draft-07 tools emit).
 */

/** Keywords that describe and do not constrain: accepted anywhere and dropped. */
const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly']);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null', 'object', 'array']);
/** Keywords node-llama-cpp enforces (the type-specific ones are checked against the type below). */
const SUPPORTED = new Set([
  'type', 'const', 'enum', 'oneOf', 'anyOf', '$ref', '$defs', 'definitions',
  'properties', 'additionalProperties', 'required', 'minProperties', 'maxProperties',
  'items', 'prefixItems', 'minItems', 'maxItems',
  'minLength', 'maxLength', 'format',
  'minimum', 'maximum',
]);
const FORMATS = new Set(['date-time', 'time', 'date']);

export type SchemaCheck = { ok: true; schema: Record<string, unknown> } | { ok: false; error: string };

/** The schema as node-llama-cpp takes it, or why it cannot be enforced (naming the keyword and its path). */
export function grammarSchema(schema: Record<string, unknown>): SchemaCheck {
  try {
    return { ok: true, schema: rewrite(schema, '') as Record<string, unknown> };
  } catch (error) {
    if (error instanceof Unsupported) return { ok: false, error: error.message };
    throw error;
  }
}

class Unsupported extends Error {}

function rewrite(node: unknown, path: string): unknown {
  if (typeof node === 'boolean') {
    if (node) return {};
    throw new Unsupported(`${path || '/'}: the schema "false" cannot be decoded by the local model`);
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new Unsupported(`${path || '/'}: a schema must be an object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const at = `${path}/${key}`;
    if (ANNOTATIONS.has(key)) {
      if (key === 'description' && typeof value === 'string') out[key] = value;
      continue;
    }
    if (!SUPPORTED.has(key)) throw new Unsupported(`${at}: "${key}" is not supported by the local model's JSON grammar`);
    switch (key) {
      case 'type': {
        const types = Array.isArray(value) ? value : [value];
        const unknown = types.find((type) => typeof type !== 'string' || !TYPES.has(type));
        if (unknown !== undefined) throw new Unsupported(`${at}: unknown type ${JSON.stringify(unknown)}`);
        out[key] = value;
        break;
      }
      case 'format':
        if (typeof value !== 'string' || !FORMATS.has(value)) throw new Unsupported(`${at}: format ${JSON.stringify(value)} is not supported (date-time, time and date are)`);
        out[key] = value;
        break;
      case 'minimum':
      case 'maximum':
        // zod's int() sets the safe-integer bounds; any other bound would not be enforced.
        if (Math.abs(Number(value)) !== Number.MAX_SAFE_INTEGER) throw new Unsupported(`${at}: numeric bounds are not supported by the local model's JSON grammar`);
        break;
      case '$ref': {
        if (typeof value !== 'string' || !/^#\/(\$defs|definitions)\/[^/]+$/.test(value)) throw new Unsupported(`${at}: only references to #/$defs/… are supported`);
        out[key] = value.replace('#/definitions/', '#/$defs/');
        break;
      }
      case 'oneOf':
      case 'anyOf':
      case 'prefixItems':
        if (!Array.isArray(value)) throw new Unsupported(`${at}: must be an array`);
        out[key === 'anyOf' ? 'oneOf' : key] = value.map((item, i) => rewrite(item, `${at}/${i}`));
        break;
      case 'properties':
      case '$defs':
      case 'definitions': {
        if (typeof value !== 'object' || value === null) throw new Unsupported(`${at}: must be an object`);
        const mapped = Object.fromEntries(Object.entries(value).map(([name, item]) => [name, rewrite(item, `${at}/${name}`)]));
        const target = key === 'definitions' ? '$defs' : key;
        out[target] = { ...(out[target] as object | undefined), ...mapped };
        break;
      }
      case 'items':
        out[key] = rewrite(value, at);
        break;
      case 'additionalProperties':
        out[key] = typeof value === 'boolean' ? value : rewrite(value, at);
        break;
      default:
        out[key] = value;
    }
  }
  return out;
}
