// Reading back a JSON record that a Redis store wrote itself.
import type { z } from 'zod';
import { GrapevineError } from '../contract/errors.js';

/** What Redis holds was written by this store; a record that no longer parses is a server fault, not bad input. */
export function parseStored<T>(schema: z.ZodType<T>, raw: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new GrapevineError('store_corrupt', `${what} in Redis is not JSON`, { cause: error });
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new GrapevineError('store_corrupt', `${what} in Redis does not match its schema: ${result.error.message}`);
  return result.data;
}
