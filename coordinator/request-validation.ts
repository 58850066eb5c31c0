// How every route checks its input: zod schemas through zValidator, failures as one
// ValidationError naming each wrong field (answered 400 by the app's onError).
import { zValidator } from '@hono/zod-validator';
import type { Context, ValidationTargets } from 'hono';
import { z } from 'zod';
import { ValidationError } from '../shared/contract/errors.js';
import { describeIssues } from '../shared/contract/schemas.js';

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
