// The coordinator client's transport: one HTTP exchange over node:http(s), and how a failed
// exchange or an error answer reads as a GrapevineError a caller can act on.
import { type Agent as HttpAgent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
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

const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

class TimeoutError extends Error {}

/** A reset on a reused keep-alive connection before any answer arrived. */
export class StaleConnectionError extends Error {}

/**
 * One request with node:http. Not fetch: it loads a second HTTP stack (undici) of about
 * 11 MB into every agent, and its start-up is on the CLI's path.
 */
export function exchange(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  agent: HttpAgent,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new TimeoutError()), timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const stale = req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      reject(stale ? new StaleConnectionError(error.message, { cause: error }) : error);
    });
    req.end(body);
  });
}

export function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof TimeoutError) return `did not answer within ${timeoutMs} ms`;
  return `is unreachable (${errorMessage(error)})`;
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
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
