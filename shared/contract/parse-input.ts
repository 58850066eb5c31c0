// Checking one input against a schema, with an error that names the field. Kept apart from
// schemas.ts so that a command checking a name or two (`grapevine deploy`) does not build
// every schema of the contract when it starts.
import type * as z from 'zod';
import { ValidationError } from './errors.js';

/** Parses `input` or throws a ValidationError naming every field that is wrong. */
export function parseOrThrow<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ValidationError(`${what}: ${describeIssues(result.error)}`);
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'} ${issue.message}`)
    .join('; ');
}
