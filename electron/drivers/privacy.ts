import { isIP } from 'node:net';
import { DriverError } from '../core/errors.js';
import { tierRank } from '../core/privacy.js';
import type { PrivacyTier } from '../core/types.js';

/** Suffixes that only resolve inside a home or office network (mDNS, router DNS, RFC 8375, cloud-internal). */
const PRIVATE_SUFFIXES = ['.local', '.lan', '.home.arpa', '.internal'];

/**
 * Classifies how far a request to `baseURL` travels, judged from the host alone (no DNS lookup, so a
 * public name that happens to resolve to a LAN address stays `standard`: the conservative answer).
 * Anything unparseable is `standard` for the same reason.
 */
export function privacyTierForUrl(baseURL: string): PrivacyTier {
  const host = hostOf(baseURL);
  if (!host) return 'standard';
  const family = isIP(host);
  if (family === 4) return tierForIPv4(host);
  if (family === 6) return tierForIPv6(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return 'sovereign';
  if (PRIVATE_SUFFIXES.some((suffix) => host.endsWith(suffix))) return 'private';
  return 'standard';
}

/** Lower-cased host without IPv6 brackets or a trailing root dot; accepts a URL missing its scheme. */
function hostOf(baseURL: string): string | null {
  const trimmed = baseURL.trim();
  // "localhost:11434/v1" parses as scheme "localhost:", so retry with an explicit scheme.
  for (const candidate of [trimmed, `http://${trimmed}`]) {
    try {
      const hostname = new URL(candidate).hostname;
      if (hostname) return hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
    } catch {
      // try the next form
    }
  }
  return null;
}

function tierForIPv4(address: string): PrivacyTier {
  const [a = -1, b = -1] = address.split('.').map(Number);
  // 0.0.0.0 is "this host": connecting to it reaches a local listener, never the network.
  if (a === 127 || address === '0.0.0.0') return 'sovereign';
  if (a === 10) return 'private';
  if (a === 172 && b >= 16 && b <= 31) return 'private';
  if (a === 192 && b === 168) return 'private';
  if (a === 169 && b === 254) return 'private';
  if (a === 100 && b >= 64 && b <= 127) return 'private';
  return 'standard';
}

function tierForIPv6(address: string): PrivacyTier {
  const groups = expandIPv6(address);
  if (!groups) return 'standard';
  const [g0 = 0, , , , , g5 = 0, g6 = 0, g7 = 0] = groups;
  if (groups.slice(0, 7).every((g) => g === 0) && g7 === 1) return 'sovereign';
  // IPv4-mapped (::ffff:a.b.c.d) travels exactly as far as the IPv4 address it wraps.
  if (groups.slice(0, 5).every((g) => g === 0) && g5 === 0xffff) {
    return tierForIPv4(`${g6 >> 8}.${g6 & 0xff}.${g7 >> 8}.${g7 & 0xff}`);
  }
  if ((g0 & 0xfe00) === 0xfc00) return 'private';
  if ((g0 & 0xffc0) === 0xfe80) return 'private';
  return 'standard';
}

/** Eight 16-bit groups of an address isIP() already accepted, or null if it has a zone or odd shape. */
function expandIPv6(address: string): number[] | null {
  let text = address.split('%')[0] ?? '';
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [, a, b, c, d] = dotted.map(Number) as [number, number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return null;
  const groups = [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null;
}

/**
 * The tier an endpoint runs at: the declared one when it is at least as permissive as the URL shows (a
 * loopback URL can be a proxy to the cloud), else an `invalid_request` naming both: a public address can
 * never be declared private or sovereign.
 */
export function resolveTier(baseURL: string, declared: PrivacyTier | null | undefined): PrivacyTier {
  const inferred = privacyTierForUrl(baseURL);
  if (!declared || declared === inferred) return inferred;
  if (tierRank(declared) > tierRank(inferred)) return declared;
  throw new DriverError(
    'invalid_request',
    `${hostOf(baseURL) ?? baseURL} is ${WHERE[inferred]}, so it cannot be declared ${declared}: a tier may only be declared more permissive than its address shows.`,
  );
}

const WHERE: Record<PrivacyTier, string> = {
  sovereign: 'on this computer (sovereign)',
  private: 'on the local network (private)',
  standard: 'on the internet (standard)',
};
