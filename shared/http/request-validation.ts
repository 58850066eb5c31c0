// How every route of Grapevine's HTTP services (the coordinator, the load balancer's relay)
// checks its input: zod schemas through zValidator, failures as one ValidationError naming
// each wrong field (answered 400 by the app's onError), JSON bodies only, and the bearer token.
import { zValidator } from '@hono/zod-validator';
import type { Context, MiddlewareHandler, ValidationTargets } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import * as z from 'zod';
import { ValidationError } from '../contract/errors.js';
import { describeIssues } from '../contract/schemas.js';

const TARGET_NAMES: Partial<Record<keyof ValidationTargets, string>> = { json: 'body', query: 'query', param: 'path' };

/** zValidator whose failures become a ValidationError naming every wrong field, answered by onError. */
export function valid<Target extends keyof ValidationTargets, Schema extends z.ZodType>(target: Target, schema: Schema) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      throw new ValidationError(`invalid ${TARGET_NAMES[target] ?? target}: ${describeIssues(new z.ZodError(result.error.issues))}`);
    }
  });
}

/** The validator reads a body only when its Content-Type says JSON; anything else would pass as `{}`. */
export async function requireJson(c: Context, next: () => Promise<void>): Promise<void> {
  const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new ValidationError('request body must be JSON sent with Content-Type: application/json');
  await next();
}

/**
 * A JSON body over `maxBytes` is refused with 413 before any route reads it. A request that
 * states its length (every Grapevine client, curl, CI tools) is judged on the header alone, and
 * Node's HTTP parser never delivers more than the header says; only a chunked body is counted
 * as it streams, by hono's bodyLimit. Reading `c.req.raw.body`, as bodyLimit does first, makes
 * the Node adapter build a whole web Request per call: a tenth of the coordinator's CPU when a
 * fleet reports.
 */
export function jsonBodyLimit(maxBytes: number): MiddlewareHandler {
  const tooLarge = (c: Context) => c.json({ error: { code: 'too_large', message: `request body is over ${maxBytes} bytes` } }, 413);
  const streamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next);
    if (!/^\d+$/.test(length) || Number(length) > maxBytes) return tooLarge(c);
    return next();
  };
}

/** The token of an `Authorization: Bearer TOKEN` header; undefined when there is none or it is malformed. */
export function bearerToken(c: Context): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
}
