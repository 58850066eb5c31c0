// The sample app's v4-flags image in a real container on the base image: the build machine's
// node runs there, the app passes its health check, answers like the other tags with the flag's
// default (off) when the coordinator cannot be reached, and stops on SIGTERM (exit 0, not
// SIGKILL's 137) although Node is the container's PID 1.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_TAGS } from '../../dev-cluster/sample-app.js';
import { until } from '../fixtures/poll.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REPOSITORY = `gvsample-flags-${process.pid}`;
const CONTAINER = `${REPOSITORY}-app`;
let url = '';

beforeAll(async () => {
  await execa('bash', [join(PROJECT_ROOT, 'provisioning', 'sample-app', 'build.sh'), REPOSITORY]);
  await execa('docker', [
    'run', '--detach', '--name', CONTAINER, '--env', 'HOST_NAME=h2',
    // Nothing listens on the discard port: every evaluation is refused.
    '--env', 'GRAPEVINE_FLAGS_URL=http://127.0.0.1:9/envs/production', '--env', 'GRAPEVINE_FLAGS_TOKEN_FILE=/run/grapevine/flags-reader.token',
    '--publish', '127.0.0.1::8080', `${REPOSITORY}:v4-flags`,
  ]);
  const { stdout } = await execa('docker', ['port', CONTAINER, '8080/tcp']);
  url = `http://${stdout.split('\n')[0]!.trim()}`;
  await until('v4-flags healthy', async () => ((await execa('docker', ['inspect', '--format', '{{.State.Health.Status}}', CONTAINER])).stdout.trim() === 'healthy' ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 250,
  });
});

afterAll(async () => {
  await execa('docker', ['rm', '--force', CONTAINER], { reject: false });
  await execa('docker', ['image', 'rm', ...SAMPLE_TAGS.map((tag) => `${REPOSITORY}:${tag}`)], { reject: false });
});

describe('the v4-flags image', () => {
  it('answers GET / with its tag, host and the flag off while the coordinator cannot be reached, and /healthz with ok', async () => {
    for (const path of ['/', '/?user=alice']) {
      const page = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
      expect([page.status, await page.text()]).toEqual([200, 'v4-flags h2 banner=off\n']);
    }
    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok']);
    const { stdout } = await execa('docker', ['logs', CONTAINER]);
    // One line per outcome, not one per request.
    const lines = stdout.split('\n');
    expect(lines.filter((line) => line.startsWith('sample-app: flags: new-banner: serving the default false')).length).toBe(1);
    expect(lines.filter((line) => line.endsWith('cannot read the token file /run/grapevine/flags-reader.token: ENOENT')).length).toBe(1);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    await execa('docker', ['stop', '--time', '10', CONTAINER]);
    const { stdout } = await execa('docker', ['inspect', '--format', '{{.State.ExitCode}}', CONTAINER]);
    expect(stdout.trim()).toBe('0');
  });
});
