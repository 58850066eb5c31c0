// The compose runtime against the real Docker engine with the sample app images.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { pino } from 'pino';
import { stringify as toYaml } from 'yaml';
import { DockerComposeRuntime } from '../../shared/docker/compose-runtime.js';
import { DockerComposeProjectCli } from '../../shared/docker/compose-project.js';
import { DeployStepError } from '../../shared/contract/errors.js';
import { DockerEngineApi } from '../../shared/docker/engine-api.js';
import { waitForHealth } from '../../shared/docker/health-wait.js';
import { freePort } from '../fixtures/server-process.js';

const silent = pino({ level: 'silent' });
const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Unique per run, so two runs of the suite on one engine do not share images or projects.
const RUN = `${process.pid}`;
const REPOSITORY = `gvdock-runtime-${RUN}`;
const SOCKET = '/var/run/docker.sock';

/** Whether `url` answers 2xx now. */
async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

/** A compose project of the sample app on a free loopback port, and a runtime for it. */
async function appProject(options: { node: string; project: string; healthInterval: string; startDelay?: string; probe?: boolean; healthyDeadlineMs: number }) {
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
    healthyDeadlineMs: options.healthyDeadlineMs,
    minHealthyTimeMs: 0,
    ...(options.probe ? { healthUrl: `http://127.0.0.1:${port}/healthz` } : {}),
    lb: { backend: 'web', address: '127.0.0.1:1' },
  };
  const runtime = new DockerComposeRuntime({ node: options.node, roles: { web: role }, dockerSocket: SOCKET });
  return {
    runtime,
    url: `http://127.0.0.1:${port}/`,
    healthUrl: `http://127.0.0.1:${port}/healthz`,
    async remove() {
      await new DockerComposeProjectCli(SOCKET)
        .down({ file: compose, name: options.project }, { env: { GRAPEVINE_IMAGE: `${REPOSITORY}:v1` }, signal: AbortSignal.timeout(30_000), timeoutMs: 30_000, stopTimeoutS: 1 })
        .catch(() => undefined);
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
    app = await appProject({ node: 'rt1', project: `gvdock-runtime-web-${RUN}`, healthInterval: '1s', healthyDeadlineMs: 10_000 });
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

  it('rejects a container whose health check keeps failing at its deadline, naming the step and the check output', async () => {
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:bad`, signal);
    const failure = await runtime.waitHealthy('web', signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('health');
    expect((failure as DeployStepError).message).toMatch(/was not healthy within 10 s; last verdict: Docker's check unhealthy \(.*404.*\)/);
  });

  it('rejects a pull from an unreachable registry as a pull failure', async () => {
    const failure = await runtime.pull('127.0.0.1:1/nothing:v1', { signal: AbortSignal.timeout(20_000), logger: silent }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('pull');
    expect((failure as DeployStepError).message).toContain('127.0.0.1:1/nothing:v1');
  });

  it('reports an engine failure during the health wait as a failure of the health step', async () => {
    const gone = 'f'.repeat(64);
    const failure = await waitForHealth(new DockerEngineApi(SOCKET), { container: gone, signal: AbortSignal.timeout(20_000), healthyDeadlineMs: 20_000, logger: silent }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('health');
    expect((failure as DeployStepError).message).toMatch(/^could not watch container ffffffffffff: .*404 .*no such container/i);
  });

  it('gives up on a pull from a registry that never answers at the pull deadline', async () => {
    // A loopback "registry" that takes connections and never replies.
    const sockets = new Set<Socket>();
    const silentRegistry = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silentRegistry.listen(0, '127.0.0.1', resolve));
    const { port } = silentRegistry.address() as AddressInfo;
    const slowPulls = new DockerComposeRuntime({ node: 'rt1', roles: {}, dockerSocket: SOCKET, pullTimeoutMs: 2_000 });
    try {
      const failure = await slowPulls.pull(`127.0.0.1:${port}/nothing:v1`, { signal: AbortSignal.timeout(60_000), logger: silent }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(DeployStepError);
      expect((failure as DeployStepError).step).toBe('pull');
      expect((failure as DeployStepError).message).toBe(`cannot pull 127.0.0.1:${port}/nothing:v1: did not finish pulling within 2 s`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silentRegistry.close();
    }
  });

  it('rejects an image that does not exist locally without pulling it, with what compose said', async () => {
    const image = `${REPOSITORY}:never-built`;
    const failure = await runtime.up('web', image, { signal: AbortSignal.timeout(20_000), logger: silent }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('up');
    const message = (failure as DeployStepError).message;
    expect(message).toContain(`cannot start ${image}`);
    expect(message).toContain(`docker compose up (project gvdock-runtime-web-${RUN}) exited with code 1`);
    expect(message.toLowerCase()).toContain(`no such image: ${image}`);
  });
});

describe('docker compose runtime with a health URL', () => {
  const project = `gvdock-probe-web-${RUN}`;
  let app: Awaited<ReturnType<typeof appProject>>;
  let runtime: DockerComposeRuntime;

  beforeAll(async () => {
    // Docker's first check runs 30 s after the start: only the probe can pass sooner. The
    // app's 5 s start delay leaves it silent when the wait begins (`up` takes 2-3 s here).
    app = await appProject({ node: 'rt2', project, healthInterval: '30s', startDelay: '5', probe: true, healthyDeadlineMs: 10_000 });
    ({ runtime } = app);
  });

  afterAll(() => app?.remove());

  const dockerHealth = async () =>
    (await execa('docker', ['inspect', '--format', '{{.State.Health.Status}}', `${project}-app-1`])).stdout.trim();

  it('counts the app healthy when its health URL answers, before Docker has run its check', async () => {
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:v1`, signal);
    // The app is still in its start delay when the wait begins, and serves when the wait ends.
    expect(await answers(app.healthUrl)).toBe(false);
    await runtime.waitHealthy('web', signal);
    expect(await answers(app.healthUrl)).toBe(true);
    expect(await dockerHealth()).toBe('starting');
  });

  it('fails at its deadline when the health URL never answers 2xx', async () => {
    const signal = { signal: AbortSignal.timeout(30_000), logger: silent };
    await runtime.up('web', `${REPOSITORY}:bad`, signal);
    const failure = await runtime.waitHealthy('web', signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DeployStepError);
    expect((failure as DeployStepError).step).toBe('health');
    expect((failure as DeployStepError).message).toMatch(/was not healthy within 10 s/);
  });
});
