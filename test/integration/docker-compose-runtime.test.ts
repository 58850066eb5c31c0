// The compose runtime against the real Docker engine with the sample app images.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';

const silent = pino({ level: 'silent' });
import { stringify as toYaml } from 'yaml';
import { DockerComposeRuntime } from '../../shared/docker/compose-runtime.js';
import { DeployStepError } from '../../shared/contract/errors.js';
import { PROJECT_ROOT } from '../../dev-cluster/dev-cluster.js';
import { freePort } from '../fixtures/server-process.js';

const REPOSITORY = 'gvtest-runtime';

/** A compose project of the sample app on a free loopback port, and a runtime for it. */
async function appProject(options: { node: string; project: string; healthInterval: string; startDelay?: string; probe?: boolean; healthTimeoutMs: number }) {
  const dir = mkdtempSync(join(tmpdir(), `${options.project}-`));
  const compose = join(dir, 'web.yml');
  const port = await freePort();
  writeFileSync(
    compose,
    toYaml({
      services: {
        app: {
          image: '${GRAPEVINE_IMAGE}',
          ports: [`127.0.0.1:${port}:8080`],
          environment: { HOST_NAME: '${GRAPEVINE_NODE}', START_DELAY: options.startDelay ?? '0' },
          healthcheck: {
            test: ['CMD', 'busybox', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/healthz'],
            interval: options.healthInterval,
            timeout: '1s',
            retries: 2,
          },
        },
      },
    }),
  );
  const role = {
    compose,
    service: 'app',
    project: options.project,
    healthTimeoutMs: options.healthTimeoutMs,
    ...(options.probe ? { healthUrl: `http://127.0.0.1:${port}/healthz` } : {}),
    lb: { backend: 'web', address: '127.0.0.1:1' },
  };
  const runtime = new DockerComposeRuntime({ node: options.node, roles: { web: role }, dockerSocket: '/var/run/docker.sock', logger: silent });
  return {
    runtime,
    url: `http://127.0.0.1:${port}/`,
    async remove() {
      await execa('docker', ['compose', '--project-name', options.project, '--file', compose, 'down', '--timeout', '1'], {
        env: { GRAPEVINE_IMAGE: `${REPOSITORY}:v1` },
        reject: false,
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

beforeAll(async () => {
  await execa('bash', [join(PROJECT_ROOT, 'provisioning', 'sample-app', 'build.sh'), REPOSITORY]);
});

afterAll(async () => {
  await execa('docker', ['image', 'rm', `${REPOSITORY}:v1`, `${REPOSITORY}:v2`, `${REPOSITORY}:bad`], { reject: false });
});

describe('docker compose runtime', () => {
  let app: Awaited<ReturnType<typeof appProject>>;
  let runtime: DockerComposeRuntime;
  let url: string;

  beforeAll(async () => {
    app = await appProject({ node: 'rt1', project: 'gvtest-runtime-web', healthInterval: '1s', healthTimeoutMs: 20_000 });
    ({ runtime, url } = app);
  });

  afterAll(() => app?.remove());

  it('starts a version, waits for its health check and reports what runs', async () => {
    expect(await runtime.runningImage('web')).toBeNull();
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:v1`, signal);
    await runtime.waitHealthy('web', signal);
    expect(await runtime.runningImage('web')).toBe(`${REPOSITORY}:v1`);
    expect(await (await fetch(url)).text()).toBe('v1 rt1\n');

    await runtime.up('web', `${REPOSITORY}:v2`, signal);
    await runtime.waitHealthy('web', signal);
    expect(await runtime.runningImage('web')).toBe(`${REPOSITORY}:v2`);
    expect(await (await fetch(url)).text()).toBe('v2 rt1\n');
  });

  it('rejects a container whose health check fails, naming the step and the check output', async () => {
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:bad`, signal);
    const failure = await runtime.waitHealthy('web', signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('health');
    expect((failure as DeployStepError).message).toMatch(/unhealthy: .*404/);
  });

  it('rejects a pull from an unreachable registry as a pull failure', async () => {
    const failure = await runtime.pull('127.0.0.1:1/nothing:v1', { signal: AbortSignal.timeout(20_000), logger: silent }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('pull');
    expect((failure as DeployStepError).message).toContain('127.0.0.1:1/nothing:v1');
  });

  it('rejects an image that does not exist locally without pulling it', async () => {
    const failure = await runtime.up('web', `${REPOSITORY}:never-built`, { signal: AbortSignal.timeout(20_000), logger: silent }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('up');
  });
});

describe('docker compose runtime with a health URL', () => {
  const project = 'gvtest-probe-web';
  let app: Awaited<ReturnType<typeof appProject>>;
  let runtime: DockerComposeRuntime;

  beforeAll(async () => {
    // Docker's first check runs 30 s after the start: only the probe can pass sooner.
    app = await appProject({ node: 'rt2', project, healthInterval: '30s', startDelay: '1', probe: true, healthTimeoutMs: 5_000 });
    ({ runtime } = app);
  });

  afterAll(() => app?.remove());

  const dockerHealth = async () =>
    (await execa('docker', ['inspect', '--format', '{{.State.Health.Status}}', `${project}-app-1`])).stdout.trim();

  it('counts the app healthy when its health URL answers, before Docker has run its check', async () => {
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:v1`, signal);
    const startedAt = Date.now();
    await runtime.waitHealthy('web', signal);
    // The app serves after its 1 s start delay; the wait ends on the first 2xx after that.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(800);
    expect(await dockerHealth()).toBe('starting');
  });

  it('fails at its deadline when the health URL never answers 2xx', async () => {
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:bad`, signal);
    const failure = await runtime.waitHealthy('web', signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('health');
    expect((failure as DeployStepError).message).toMatch(/was not healthy within 5 s/);
  });
});
