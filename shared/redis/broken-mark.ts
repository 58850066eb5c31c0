// The broken-release mark of a group as Redis holds it: written as the contract's one
// BrokenMark shape, read in every shape it was ever written in.

import type { RedisClient } from './connection.js';
import { BrokenMark } from '../contract/schemas.js';
import { callRedis } from './scripts.js';

/** Who a mark written by hand (plain text) or without a host is put down to. */
const UNKNOWN_SETTER = 'unknown';

/**
 * Reads a stored mark: the BrokenMark shape ({reason, by, at: ms}); the shape marks had
 * before ({reason, host?, at: ISO text}); or plain text, a mark written by hand, which is
 * its own reason (with no time: `at` is 0).
 */
function parseBrokenMark(value: string): BrokenMark {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { reason: value, by: UNKNOWN_SETTER, at: 0 };
  }
  const current = BrokenMark.safeParse(parsed);
  if (current.success) return current.data;
  if (parsed && typeof parsed === 'object' && 'reason' in parsed && typeof parsed.reason === 'string') {
    const host = 'host' in parsed && typeof parsed.host === 'string' ? parsed.host : UNKNOWN_SETTER;
    const at = 'at' in parsed && typeof parsed.at === 'string' ? Date.parse(parsed.at) : Number.NaN;
    return { reason: parsed.reason, by: host, at: Number.isNaN(at) ? 0 : at };
  }
  return { reason: value, by: UNKNOWN_SETTER, at: 0 };
}

/** Who marked the release broken and why, as a host standing down reports it: `h1: health: unhealthy`. */
export function describeBrokenMark(mark: BrokenMark): string {
  // A mark written by hand as plain text names nobody.
  return mark.by === UNKNOWN_SETTER ? mark.reason : `${mark.by}: ${mark.reason}`;
}

/** The mark at `key`; null when the tag is not marked. */
export async function readBrokenMark(redis: RedisClient, key: string): Promise<BrokenMark | null> {
  const value = await callRedis('reading the broken-release mark', () => redis.get(key));
  return value === null ? null : parseBrokenMark(value);
}
