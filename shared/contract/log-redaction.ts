// What the logger does to an error before printing it: the Redis client attaches the failed
// command to its errors, and a refused AUTH or HELLO carries the user's password in it.
import pino from 'pino';

const CREDENTIAL_COMMANDS = new Set(['auth', 'hello']);
/** Errors nest (cause, inner errors) only a few levels deep; deeper values are printed as they are. */
const MAX_DEPTH = 6;

/** pino's error serializer, with the arguments of any AUTH or HELLO command inside replaced. */
export function errWithoutCredentials(error: unknown): unknown {
  return withoutCredentials(error instanceof Error ? pino.stdSerializers.err(error) : error, 0);
}

function withoutCredentials(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => withoutCredentials(item, depth + 1));
  // A copy: the serialized error still shares its nested objects with the error itself.
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = isCredentialCommand(inner) ? { name: inner.name, args: ['[redacted]'] } : withoutCredentials(inner, depth + 1);
  }
  return copy;
}

function isCredentialCommand(value: unknown): value is { name: string } {
  if (value === null || typeof value !== 'object' || !('name' in value) || !('args' in value)) return false;
  return typeof value.name === 'string' && CREDENTIAL_COMMANDS.has(value.name.toLowerCase());
}
