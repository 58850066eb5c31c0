// The sample app's v3 tags in real containers, under the dev cluster's traffic stream: both
// pass their health check, v3-errors answers 500 on about 30 % of GET / and v3-slow answers
// every GET / at least 300 ms late, each with the body every tag answers (`TAG HOST`), while
// v1 still serves its static page. Figures are printed; the bounds asserted are far from chance.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, trafficLine } from '../../dev-cluster/traffic.js';
import { SAMPLE_TAGS } from '../../dev-cluster/sample-app.js';
import { until } from '../fixtures/poll.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Unique per run, so two runs on one engine share no images or containers.
const RUN = `${process.pid}`;
const REPOSITORY = `gvsample-tags-${RUN}`;
const TAGS = ['v1', 'v3-errors', 'v3-slow'] as const;
const container = (tag: string) => `${REPOSITORY}-${tag}`;
/** 100 requests at 20 a second, in the five seconds a host's canary sub-window lasts. */
const REQUESTS = { ratePerSecond: 20, durationMs: 5_000 };

const urls: Record<string, string> = {};

beforeAll(async () => {
  await execa('bash', [join(PROJECT_ROOT, 'provisioning', 'sample-app', 'build.sh'), REPOSITORY]);
  for (const tag of TAGS) {
    await execa('docker', ['run', '--detach', '--name', container(tag), '--env', 'HOST_NAME=h3', '--publish', '127.0.0.1::8080', `${REPOSITORY}:${tag}`]);
    const { stdout } = await execa('docker', ['port', container(tag), '8080/tcp']);
    urls[tag] = `http://${stdout.split('\n')[0]!.trim()}/`;
  }
  for (const tag of TAGS) {
    await until(
      `${tag} healthy`,
      async () => ((await execa('docker', ['inspect', '--format', '{{.State.Health.Status}}', container(tag)])).stdout.trim() === 'healthy' ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  }
});

afterAll(async () => {
  await execa('docker', ['rm', '--force', ...TAGS.map(container)], { reject: false });
  await execa('docker', ['image', 'rm', ...SAMPLE_TAGS.map((tag) => `${REPOSITORY}:${tag}`)], { reject: false });
});

describe('sample app tags', () => {
  it('v3-errors passes its health check and answers 500 on about 30 % of GET /, with its usual body', async () => {
    const summary = await startTraffic({ url: urls['v3-errors']!, ...REQUESTS }).done;
    console.log(`v3-errors: ${trafficLine(summary)}`);
    expect(summary.answered).toBe(100);
    expect(Object.keys(summary.byStatus).sort()).toEqual(['200', '500']);
    // Binomial(100, 0.3): 10 to 50 is more than four standard deviations either side.
    expect(summary.byStatus['500']).toBeGreaterThanOrEqual(10);
    expect(summary.byStatus['500']).toBeLessThanOrEqual(50);
    expect(summary.byBody).toEqual({ 'v3-errors h3': 100 });
  });

  it('v3-slow passes its health check and answers every GET / at least 300 ms late, with its usual body', async () => {
    const stream = startTraffic({ url: urls['v3-slow']!, ...REQUESTS, timeoutMs: 5_000 });
    const summary = await stream.done;
    const v1 = await startTraffic({ url: urls.v1!, ...REQUESTS }).done;
    console.log(`v3-slow: ${trafficLine(summary)}\nv1:      ${trafficLine(v1)}`);
    expect(summary.byStatus).toEqual({ '200': 100 });
    expect(summary.byBody).toEqual({ 'v3-slow h3': 100 });
    // A lower bound the app's own sleep guarantees, however busy the machine.
    expect(Math.min(...stream.answers().map((answer) => answer.ms))).toBeGreaterThanOrEqual(300);
    expect(v1.byStatus).toEqual({ '200': 100 });
    expect(v1.byBody).toEqual({ 'v1 h3': 100 });
  });

  it('v1 still serves its static page, and the v3 tags their health check as v1 does', async () => {
    const page = await fetch(urls.v1!);
    expect(page.headers.get('content-type')).toBe('text/html');
    expect(await page.text()).toBe('v1 h3\n');
    for (const tag of TAGS) {
      const health = await fetch(new URL('/healthz', urls[tag]));
      expect([tag, health.status, await health.text()]).toEqual([tag, 200, 'ok']);
    }
  });
});
