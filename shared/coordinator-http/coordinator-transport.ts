// How a failed exchange with the coordinator or its error answer reads as a GrapevineError
// a caller can act on.
import * as z from 'zod';
import {
  ConflictError,
  errorMessage,
  ForbiddenError,
  GrapevineError,
  NotFoundError,
  UnauthorizedError,
  UnreachableError,
  ValidationError,
} from '../contract/errors.js';
import { ExchangeTimeoutError } from '../http/http-exchange.js';

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof ExchangeTimeoutError) return `did not answer within ${timeoutMs} ms`;
  return `is unreachable (${errorMessage(error)})`;
}

export function errorFor(status: number, json: unknown, text: string, what: string): GrapevineError {
  const parsed = ErrorBody.safeParse(json);
  const code = parsed.success ? parsed.data.error.code : undefined;
  const message = parsed.success ? parsed.data.error.message : `${what} answered ${status}: ${text.slice(0, 200) || '(empty body)'}`;
  switch (status) {
    case 400:
      return new ValidationError(message);
    case 401:
      return new UnauthorizedError(message);
    case 403:
      return new ForbiddenError(message);
    case 404:
      return new NotFoundError(message);
    case 409:
      return new ConflictError(code ?? 'conflict', message);
    case 502:
    case 503:
      // The coordinator is up but something behind it (Serf, Redis) did not answer.
      if (code === 'unreachable') return new UnreachableError(message);
      return new GrapevineError('coordinator_error', message);
    default:
      return new GrapevineError('coordinator_error', message);
  }
}
