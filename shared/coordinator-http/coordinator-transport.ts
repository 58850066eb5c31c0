// How the clients reach the fleet's coordinators: a list of URLs tried in turn when one is
// unreachable (never on an answer, even a 5xx: that coordinator took the request), the one
// that answered remembered for the next request; and how a failed exchange or an error
// answer reads as a GrapevineError a caller can act on.
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
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { exchangeReusing, ExchangeTimeoutError } from '../http/http-exchange.js';
import { CertificateError, certificateProblem, schemeMismatch } from '../http/tls-failure.js';
import { coordinatorUrls } from '../contract/coordinator-urls.js';

/** Errors of a connection that failed or died: that coordinator may be down, the next one is tried. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND']);

export function isUnreachable(error: unknown): boolean {
  if (error instanceof ExchangeTimeoutError) return true;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && UNREACHABLE_CODES.has(code);
}

/**
 * The fleet's coordinators as one: a request goes to the one that answered last and, when it
 * is unreachable, to each other once (bounded: every URL at most once, and no new try once
 * `budgetMs` has passed). A request that failed after it may have reached a coordinator is
 * tried again only where it is safe twice: reads, and writes the coordinator makes idempotent
 * (deploy creation carries an idempotency key, a host's report its state). The first request
 * goes to the first URL, or with `spreadBy` (an agent's host name) to the URL that name
 * picks: every coordinator serves agents, so the fleet's requests are shared among them.
 */
export class CoordinatorEndpoints {
  readonly urls: readonly string[];
  #current: number;

  constructor(urls: string | readonly string[], spreadBy?: string) {
    this.urls = coordinatorUrls(urls);
    this.#current = spreadBy === undefined ? 0 : spreadIndex(spreadBy, this.urls.length);
  }

  /** The URL the next request goes to first. */
  get current(): string {
    return this.urls[this.#current]!;
  }

  /**
   * One request to the fleet: answered by the first coordinator that answers, with the URL it
   * went to. An UnreachableError naming each coordinator tried when none did.
   */
  async exchange(request: FleetRequest): Promise<{ status: number; text: string; url: string }> {
    const { method, path, headers, body, timeoutMs, agents } = request;
    let url = `${this.current}${path}`;
    try {
      const attempt = async (base: string) => {
        url = `${base}${path}`;
        const agent = base.startsWith('https:') ? agents.https() : agents.http;
        const answer = await exchangeReusing({ url, method, headers, body, timeoutMs, agent });
        return { status: answer.status, text: answer.text, url };
      };
      return await this.send(attempt, timeoutMs * FAILOVER_BUDGET_TIMEOUTS);
    } catch (error) {
      if (error instanceof AllUnreachableError) {
        const each = error.failures.map(({ url: base, error: failure }) => `coordinator at ${base} ${schemeMismatch(base, failure) ?? describeFailure(failure, timeoutMs)}`);
        throw new UnreachableError(each.length === 1 ? each[0]! : `no coordinator answered: ${each.join('; ')}`, { cause: error.last.error });
      }
      const base = url.slice(0, url.length - path.length);
      const problem = certificateProblem(error);
      if (problem !== undefined) throw new CertificateError(`coordinator at ${base}: ${problem}; trusted: ${request.trusted}`, { cause: error });
      throw new UnreachableError(`coordinator at ${base} ${schemeMismatch(base, error) ?? describeFailure(error, timeoutMs)}`, { cause: error });
    }
  }

  async send<T>(attempt: (url: string) => Promise<T>, budgetMs: number): Promise<T> {
    const deadline = Date.now() + budgetMs;
    const failures: Array<{ url: string; error: unknown }> = [];
    for (let tried = 0; tried < this.urls.length; tried += 1) {
      const index = (this.#current + tried) % this.urls.length;
      const url = this.urls[index]!;
      try {
        const answer = await attempt(url);
        this.#current = index;
        return answer;
      } catch (error) {
        if (!isUnreachable(error)) throw error;
        failures.push({ url, error });
        if (Date.now() >= deadline) break;
      }
    }
    throw new AllUnreachableError(failures);
  }
}

/**
 * Which of `count` coordinators a caller named `name` asks first: FNV-1a of the name, its bits
 * mixed (murmur3's finaliser: FNV's low bits alone follow the names' last characters), so a
 * host keeps its coordinator across restarts and a fleet's names spread evenly.
 */
export function spreadIndex(name: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return ((hash ^ (hash >>> 16)) >>> 0) % count;
}

/** Past this many request timeouts, no other coordinator of the list is tried. */
const FAILOVER_BUDGET_TIMEOUTS = 2;

export interface FleetRequest {
  method: string;
  /** From the base URL on: `/v1/deploys`. */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** Per coordinator tried. */
  timeoutMs: number;
  /** The https one made when first asked for: node:https loads only for an https:// coordinator. */
  agents: { http: HttpAgent; https(): HttpsAgent };
  /** Which CAs an https:// coordinator is checked against, for the error when its certificate does not verify. */
  trusted: string;
}

/** No coordinator of the list answered: each one's failure, for the caller's message. */
export class AllUnreachableError extends Error {
  constructor(readonly failures: ReadonlyArray<{ url: string; error: unknown }>) {
    super(`no coordinator answered (${failures.map((f) => f.url).join(', ')})`);
  }

  /** The last failure, which a caller describes as it would a single coordinator's. */
  get last(): { url: string; error: unknown } {
    return this.failures[this.failures.length - 1]!;
  }
}

/** The coordinator's `{error: {code, message}}`, checked by hand: `grapevine deploy` loads no zod to read a refusal. */
function errorBody(json: unknown): { code: string; message: string } | undefined {
  const error = isRecord(json) ? json.error : undefined;
  if (!isRecord(error) || typeof error.code !== 'string' || typeof error.message !== 'string') return undefined;
  return { code: error.code, message: error.message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof ExchangeTimeoutError) return `did not answer within ${timeoutMs} ms`;
  return `is unreachable (${errorMessage(error)})`;
}

export function errorFor(status: number, json: unknown, text: string, what: string): GrapevineError {
  const parsed = errorBody(json);
  const code = parsed?.code;
  const message = parsed ? parsed.message : `${what} answered ${status}: ${text.slice(0, 200) || '(empty body)'}`;
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
