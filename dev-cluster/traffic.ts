// A steady stream of requests to a load balancer's frontend, as users would send, for the
// canary judge to see traffic and for the demo, the benchmark and the tests to see what users
// got during a deploy. Bounded every way: rate, duration, total (rate × duration), requests in
// flight and each request's time; it stops by itself when its time is up.
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { pause } from '../shared/contract/waiting.js';

export const MAX_TRAFFIC_RATE = 500;
export const MAX_TRAFFIC_MS = 10 * 60_000;
const DEFAULT_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_IN_FLIGHT = 100;
/** Failed requests kept with their time and answer, enough to say when a failure window was. */
const FAILURES_KEPT = 20;
/** Bodies counted one by one; past this many distinct ones the rest count under OTHER_BODIES. */
const BODIES_KEPT = 50;
const OTHER_BODIES = '(other bodies)';
const BODY_CHARS = 200;

export interface TrafficOptions {
  url: string;
  ratePerSecond: number;
  durationMs: number;
  headers?: Record<string, string>;
  /** Each request's time to its whole answer; one past it is recorded as the error TimeoutError. */
  timeoutMs?: number;
  /** A request due while this many are unanswered is not sent, and counted as skipped. */
  maxInFlight?: number;
}

/** One request: when it was sent, how long it took, and its status and trimmed body or its error. */
export interface TrafficAnswer {
  sentAt: number;
  ms: number;
  status?: number;
  body?: string;
  error?: string;
}

export interface TrafficFailure {
  /** When the request was sent, ms since the epoch. */
  at: number;
  /** The status and the body's start (`500 v3-errors h3`), or the error's name (`TimeoutError`). */
  answer: string;
}

export interface TrafficSummary {
  /** Requests sent (answered or not yet). */
  sent: number;
  answered: number;
  /** Requests due while maxInFlight were unanswered, not sent. */
  skipped: number;
  /** Answers by status (`200`, `500`) and requests with no answer by `error`. */
  byStatus: Record<string, number>;
  /** Answers by trimmed body (`v1 h1`). */
  byBody: Record<string, number>;
  /** Requests with a non-2xx answer or none. */
  failed: number;
  failures: TrafficFailure[];
  /** Time to the whole answer over the requests answered: mean, median and 95th percentile, ms. */
  ms: { mean: number; p50: number; p95: number } | null;
  /** From the first request sent to the last answer. */
  elapsedMs: number;
}

export interface TrafficStream {
  /** Sends no more, waits for the requests in flight, and returns what came back. */
  stop(): Promise<TrafficSummary>;
  /** What came back so far. */
  summary(): TrafficSummary;
  /** Every request so far, in the order sent. */
  answers(): readonly TrafficAnswer[];
  /** Settles with the summary once the stream has stopped, by itself or by stop(). */
  readonly done: Promise<TrafficSummary>;
}

/** Checks a stream's bounds, naming the option that is out of them. */
export function checkTrafficOptions(options: TrafficOptions): void {
  const { ratePerSecond, durationMs, timeoutMs, maxInFlight } = options;
  if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0 && ratePerSecond <= MAX_TRAFFIC_RATE)) {
    throw new RangeError(`the rate must be above 0 and at most ${MAX_TRAFFIC_RATE} requests a second, not ${ratePerSecond}`);
  }
  if (!(Number.isFinite(durationMs) && durationMs > 0 && durationMs <= MAX_TRAFFIC_MS)) {
    throw new RangeError(`the duration must be above 0 and at most ${MAX_TRAFFIC_MS / 60_000} minutes, not ${durationMs} ms`);
  }
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= 60_000)) {
    throw new RangeError(`the request timeout must be above 0 and at most 60000 ms, not ${timeoutMs}`);
  }
  if (maxInFlight !== undefined && !(Number.isInteger(maxInFlight) && maxInFlight >= 1 && maxInFlight <= 1_000)) {
    throw new RangeError(`the requests in flight must be a whole number from 1 to 1000, not ${maxInFlight}`);
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new RangeError(`"${options.url}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`"${options.url}" is not an http or https URL`);
}

/** Starts sending `ratePerSecond` requests a second to `url` for `durationMs`: at most rate × duration in all. */
export function startTraffic(options: TrafficOptions): TrafficStream {
  checkTrafficOptions(options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const total = Math.max(1, Math.floor((options.ratePerSecond * options.durationMs) / 1000));
  const intervalMs = 1000 / options.ratePerSecond;
  const stopped = new AbortController();
  const answers: TrafficAnswer[] = [];
  const inFlight = new Set<Promise<void>>();
  const startedAt = Date.now();
  let skipped = 0;
  let lastAnswerAt = startedAt;

  const agent = connectionAgent(options.url);
  const send = async (answer: TrafficAnswer) => {
    const sentAt = performance.now();
    try {
      const response = await getOnce(options.url, options.headers ?? {}, timeoutMs, agent);
      answer.status = response.status;
      answer.body = response.body.trim().slice(0, BODY_CHARS);
    } catch (error) {
      answer.error = errorName(error);
    }
    answer.ms = Math.round((performance.now() - sentAt) * 10) / 10;
    lastAnswerAt = Date.now();
  };

  // Each request has its due time from the start, so a late wake-up sends what fell due since.
  const sending = (async () => {
    for (let i = 0; i < total && !stopped.signal.aborted; i++) {
      const wait = startedAt + i * intervalMs - Date.now();
      if (wait > 0) await pause(wait, stopped.signal).catch(() => undefined);
      if (stopped.signal.aborted) break;
      if (inFlight.size >= maxInFlight) {
        skipped += 1;
        continue;
      }
      const answer: TrafficAnswer = { sentAt: Date.now(), ms: Number.NaN };
      answers.push(answer);
      const request = send(answer);
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await Promise.all(inFlight);
  })();

  const summary = () => summarise(answers, skipped, (inFlight.size > 0 ? Date.now() : lastAnswerAt) - startedAt);
  const done = sending.then(summary);
  return {
    async stop() {
      stopped.abort();
      return done;
    },
    summary,
    answers: () => answers,
    done,
  };
}

/** `500 v3-errors h3`, or the error's name: one failed request in a line. */
export function describeAnswer(answer: TrafficAnswer): string {
  return answer.error ?? `${answer.status} ${(answer.body ?? '').slice(0, 60).trim()}`;
}

export function summarise(answers: readonly TrafficAnswer[], skipped: number, elapsedMs: number): TrafficSummary {
  const byStatus: Record<string, number> = {};
  const byBody: Record<string, number> = {};
  const failures: TrafficFailure[] = [];
  const times: number[] = [];
  let answered = 0;
  let failed = 0;
  for (const answer of answers) {
    if (Number.isNaN(answer.ms)) continue;
    answered += 1;
    const status = answer.error === undefined ? String(answer.status) : 'error';
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    if (answer.body !== undefined) {
      const body = answer.body in byBody || Object.keys(byBody).length < BODIES_KEPT ? answer.body : OTHER_BODIES;
      byBody[body] = (byBody[body] ?? 0) + 1;
    }
    if (answer.error === undefined) times.push(answer.ms);
    const ok = answer.status !== undefined && answer.status >= 200 && answer.status < 300;
    if (ok) continue;
    failed += 1;
    if (failures.length < FAILURES_KEPT) failures.push({ at: answer.sentAt, answer: describeAnswer(answer) });
  }
  return { sent: answers.length, answered, skipped, byStatus, byBody, failed, failures, ms: timeFigures(times), elapsedMs };
}

function timeFigures(times: number[]): TrafficSummary['ms'] {
  if (times.length === 0) return null;
  const sorted = [...times].sort((a, b) => a - b);
  const at = (share: number) => sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)]!;
  const mean = sorted.reduce((sum, ms) => sum + ms, 0) / sorted.length;
  return { mean: Math.round(mean * 10) / 10, p50: at(0.5), p95: at(0.95) };
}

/** `1200 requests in 60.1 s: 200 ×1164, 500 ×36; v1 h1 ×600, v1 h2 ×564; 36 failed; 12 ms median, 30 ms p95`. */
export function trafficLine(summary: TrafficSummary): string {
  const counts = (record: Record<string, number>) =>
    Object.entries(record)
      .sort(([, a], [, b]) => b - a)
      .map(([key, n]) => `${key} ×${n}`)
      .join(', ');
  const parts = [`${summary.sent} requests in ${(summary.elapsedMs / 1000).toFixed(1)} s: ${counts(summary.byStatus) || 'no answer yet'}`];
  if (Object.keys(summary.byBody).length > 0) parts.push(counts(summary.byBody));
  parts.push(`${summary.failed} failed`);
  if (summary.skipped > 0) parts.push(`${summary.skipped} not sent (too many unanswered)`);
  if (summary.ms) parts.push(`${summary.ms.p50} ms median, ${summary.ms.p95} ms p95`);
  return parts.join('; ');
}

/**
 * Each request on a connection of its own, as a user's first request would come. A reused
 * keep-alive connection that the load balancer closes just as a request is sent on it (its
 * idle timeout, a worker's own housekeeping) fails with a reset on the client's side: browsers
 * send such a request again by themselves, so it is not a failure of the service, and counting
 * it would hide the failures that are.
 */
function connectionAgent(url: string): HttpAgent {
  const options = { keepAlive: false, maxSockets: DEFAULT_MAX_IN_FLIGHT };
  return url.startsWith('https:') ? new HttpsAgent(options) : new HttpAgent(options);
}

/** One GET with its whole body, bounded by `timeoutMs`. */
function getOnce(url: string, headers: Record<string, string>, timeoutMs: number, agent: HttpAgent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const request = get(url, { headers, agent, signal: AbortSignal.timeout(timeoutMs) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** `TimeoutError`, `ECONNRESET`: the error's code when it has one, so a failure says what happened. */
function errorName(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return error.name === 'AbortError' ? 'TimeoutError' : (code ?? error.name);
}
