// The bounded traffic stream against a small local HTTP server: it sends rate × duration
// requests and stops by itself, counts answers by status and body, keeps the first failures
// with their times, never has more than its limit unanswered, stops early on demand, and
// refuses a rate, duration or URL out of bounds by name.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, trafficLine } from '../../dev-cluster/traffic.js';
import { until } from '../fixtures/poll.js';

/** The server shares the test's process: on a busy machine an answer can wait seconds for its turn. */
const PATIENT_MS = 15_000;

describe('traffic stream', { timeout: 60_000 }, () => {
  let server: Server;
  let base: string;
  const seen: Record<string, number> = {};
  const headers: IncomingMessage['headers'][] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      const path = request.url ?? '/';
      seen[path] = (seen[path] ?? 0) + 1;
      headers.push(request.headers);
      if (path === '/hang') return; // never answers: the stream's timeout must end it
      if (path === '/every-third-fails' && seen[path]! % 3 === 0) {
        response.writeHead(500).end('broken on purpose\n');
        return;
      }
      const host = seen[path]! % 2 === 0 ? 'h2' : 'h1';
      response.writeHead(200).end(`v1 ${host}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends rate × duration requests and stops by itself, counting answers by status and body', async () => {
    const stream = startTraffic({ url: `${base}/steady`, ratePerSecond: 50, durationMs: 1_000, timeoutMs: PATIENT_MS, headers: { 'x-sent-by': 'traffic-test' } });
    const summary = await stream.done;
    expect(summary).toMatchObject({ sent: 50, answered: 50, skipped: 0, failed: 0, failures: [], byStatus: { '200': 50 }, byBody: { 'v1 h1': 25, 'v1 h2': 25 } });
    expect(seen['/steady']).toBe(50);
    expect(headers.at(-1)?.['x-sent-by']).toBe('traffic-test');
    expect(stream.answers().every((answer) => answer.status === 200 && answer.ms >= 0)).toBe(true);
    expect(summary.ms?.p95).toBeGreaterThanOrEqual(summary.ms?.p50 ?? Number.NaN);
    console.log(`traffic: 50 a second for 1 s: ${trafficLine(summary)}`);
  });

  it('counts non-2xx answers as failures and keeps the first ones with when they were sent', async () => {
    const before = Date.now();
    const summary = await startTraffic({ url: `${base}/every-third-fails`, ratePerSecond: 100, durationMs: 300, timeoutMs: PATIENT_MS }).done;
    expect(summary.sent).toBe(30);
    expect(summary.byStatus).toEqual({ '200': 20, '500': 10 });
    expect(summary.failed).toBe(10);
    expect(summary.failures).toHaveLength(10);
    expect(summary.failures[0]!.answer).toBe('500 broken on purpose');
    expect(summary.failures[0]!.at).toBeGreaterThanOrEqual(before);
    expect(trafficLine(summary)).toMatch(/^30 requests in [\d.]+ s: 200 ×20, 500 ×10; .*; 10 failed/);
  });

  it('records a request that gets no answer in time as an error, and sends none past its limit in flight', async () => {
    // 10 due within half a second, each unanswered for its whole 5 s: 3 go out, 7 wait their turn in vain.
    const summary = await startTraffic({ url: `${base}/hang`, ratePerSecond: 20, durationMs: 500, timeoutMs: 5_000, maxInFlight: 3 }).done;
    expect(summary).toMatchObject({ sent: 3, skipped: 7, answered: 3, failed: 3, byStatus: { error: 3 }, ms: null });
    expect(summary.failures.map((failure) => failure.answer)).toEqual(['TimeoutError', 'TimeoutError', 'TimeoutError']);
  });

  it('stops early on demand, with what came back so far', async () => {
    const stream = startTraffic({ url: `${base}/stopped`, ratePerSecond: 10, durationMs: 60_000, timeoutMs: PATIENT_MS });
    await until('a first answer', () => (stream.summary().answered >= 1 ? true : undefined));
    const summary = await stream.stop();
    expect(summary.sent).toBeGreaterThanOrEqual(1);
    expect(summary.sent).toBeLessThan(600);
    expect(summary.answered).toBe(summary.sent);
    expect(seen['/stopped']).toBe(summary.sent);
  });

  it('refuses a rate, duration, timeout or URL out of bounds, naming it', () => {
    const url = `${base}/never`;
    expect(() => startTraffic({ url, ratePerSecond: 501, durationMs: 1_000 })).toThrow(/rate must be above 0 and at most 500 requests a second, not 501/);
    expect(() => startTraffic({ url, ratePerSecond: 0, durationMs: 1_000 })).toThrow(/rate must be above 0/);
    expect(() => startTraffic({ url, ratePerSecond: 10, durationMs: 10 * 60_000 + 1 })).toThrow(/duration must be above 0 and at most 10 minutes/);
    expect(() => startTraffic({ url, ratePerSecond: 10, durationMs: 1_000, timeoutMs: 0 })).toThrow(/request timeout/);
    expect(() => startTraffic({ url: 'not a url', ratePerSecond: 10, durationMs: 1_000 })).toThrow(/"not a url" is not a URL/);
    expect(() => startTraffic({ url: 'ftp://127.0.0.1/', ratePerSecond: 10, durationMs: 1_000 })).toThrow(/not an http or https URL/);
    expect(seen['/never']).toBeUndefined();
  });
});
