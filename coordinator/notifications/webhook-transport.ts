// One POST of a notification to a webhook, and what came of it. The notifier's queues work
// through this port; HttpWebhookTransport is the node:http one. A redirect is an answer like
// any other, never followed: a webhook that moved is a config to fix, not a hop to trust.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { exchange } from '../../shared/http/http-exchange.js';

export interface WebhookPost {
  url: URL;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface WebhookAnswer {
  status: number;
  /** The answer's Retry-After, in ms from now, when it gave one that reads. */
  retryAfterMs?: number;
}

export interface WebhookTransport {
  /** Resolves with any answer; rejects when none came in time (refused, reset, timed out, aborted). */
  post(request: WebhookPost): Promise<WebhookAnswer>;
}

export class HttpWebhookTransport implements WebhookTransport {
  // Notifications are few and far between: a fresh connection each, no idle socket left to go stale.
  readonly #http = new HttpAgent({ keepAlive: false });
  readonly #https = new HttpsAgent({ keepAlive: false });
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async post({ url, headers, body, timeoutMs, signal }: WebhookPost): Promise<WebhookAnswer> {
    const agent = url.protocol === 'https:' ? this.#https : this.#http;
    const answer = await exchange({ url: url.href, method: 'POST', headers, body, timeoutMs, agent, signal });
    const retryAfter = answer.headers['retry-after'];
    const retryAfterMs = retryAfter === undefined ? undefined : retryAfterMsOf(retryAfter, this.#now());
    return { status: answer.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
}

/** Retry-After as seconds or as an HTTP date; undefined when it is neither. */
export function retryAfterMsOf(value: string, now: number): number | undefined {
  const text = value.trim();
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
