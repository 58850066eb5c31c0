// The health gate against real containers of the sample app (the compose runtime, the
// engine's events and inspects, the agent's probe of the health URL): unhealthy verdicts
// before the deadline are waited through, the deadline fails with the last verdict, an
// exit or a restart loop fails at once, and a container that turns unhealthy in the soak fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { pino } from 'pino';
import { stringify as toYaml } from 'yaml';
import { DeployStepError } from '../../shared/contract/errors.js';
import { pause } from '../../shared/contract/waiting.js';
import { DockerComposeRuntime } from '../../shared/docker/compose-runtime.js';
import { DockerComposeProjectCli } from '../../shared/docker/compose-project.js';
import { DockerEngineApi } from '../../shared/docker/engine-api.js';
import { PROBE_FAILURES_TO_FAIL } from '../../shared/docker/health-gate.js';
import { freePort } from '../fixtures/server-process.js';

const silent = pino({ level: 'silent' });
const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUN = `${process.pid}`;
const REPOSITORY = `gvdock-gate-${RUN}`;
const SOCKET = '/var/run/docker.sock';
const engine = new DockerEngineApi(SOCKET);

interface Scenario {
  name: string;
  tag?: 'v1' | 'bad';
  env?: Record<string, string>;
  /** Docker's check: every `interval`, unhealthy after `retries` failures in a row. */
  check?: { interval: string; retries: number };
  restart?: 'no' | 'always';
  probe?: boolean;
  healthyDeadlineMs: number;
  minHealthyTimeMs: number;
}

const cleanups: (() => Promise<void>)[] = [];

/** Starts the scenario's container and runs the gate on it: resolves with the gate's failure, or undefined when it passed. */
async function gate(scenario: Scenario, watch?: (container: string, settled: AbortSignal) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), `gvdock-gate-${scenario.name}-`));
  const compose = join(dir, 'web.yml');
  const project = `gvdock-gate-${scenario.name}-${RUN}`;
  const port = await freePort();
  const check = scenario.check ?? { interval: '1s', retries: 1 };
  writeFileSync(
    compose,
    toYaml({
      services: {
        app: {
          image: '${GRAPEVINE_IMAGE}',
          ports: [`127.0.0.1:${port}:8080`],
          environment: { HOST_NAME: 'gate', ...scenario.env },
          restart: scenario.restart ?? 'no',
          healthcheck: { test: ['CMD', 'busybox', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/healthz'], interval: check.interval, timeout: '1s', retries: check.retries },
        },
      },
    }),
  );
  cleanups.push(async () => {
    await new DockerComposeProjectCli(SOCKET)
      .down({ file: compose, name: project }, { env: { GRAPEVINE_IMAGE: `${REPOSITORY}:v1` }, signal: AbortSignal.timeout(30_000), timeoutMs: 30_000, stopTimeoutS: 1 })
      .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const role = {
    compose,
    service: 'app',
    project,
    healthyDeadlineMs: scenario.healthyDeadlineMs,
    minHealthyTimeMs: scenario.minHealthyTimeMs,
    ...(scenario.probe ? { healthUrl: `http://127.0.0.1:${port}/healthz` } : {}),
    lb: { backend: 'web', address: '127.0.0.1:1' },
  };
  const runtime = new DockerComposeRuntime({ node: 'gate', roles: { web: role }, dockerSocket: SOCKET });
  const context = { signal: AbortSignal.timeout(90_000), logger: silent };
  await runtime.up('web', `${REPOSITORY}:${scenario.tag ?? 'v1'}`, context);
  const settled = new AbortController();
  const watching = watch?.(`${project}-app-1`, settled.signal);
  const outcome = await runtime.waitHealthy('web', context, { soak: true }).then(
    () => undefined,
    (error: unknown) => error,
  );
  settled.abort();
  await watching;
  if (outcome === undefined) return undefined;
  expect(outcome).toBeInstanceOf(DeployStepError);
  expect((outcome as DeployStepError).step).toBe('health');
  return (outcome as DeployStepError).message;
}

/** Docker's health verdicts of `container`, sampled every 200 ms until `settled`. */
function verdictsOf(seen: Set<string>) {
  return async (container: string, settled: AbortSignal) => {
    while (!settled.aborted) {
      const details = await engine.inspect(container).catch(() => undefined);
      if (details?.State.Health?.Status) seen.add(details.State.Health.Status);
      await pause(200, settled).catch(() => undefined);
    }
  };
}

beforeAll(async () => {
  await execa('bash', [join(PROJECT_ROOT, 'provisioning', 'sample-app', 'build.sh'), REPOSITORY]);
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await execa('docker', ['image', 'rm', `${REPOSITORY}:v1`, `${REPOSITORY}:v2`, `${REPOSITORY}:bad`], { reject: false });
});

describe('health gate with real containers', () => {
  it('waits through Docker unhealthy verdicts before the deadline, then passes once healthy and through the soak', async () => {
    const seen = new Set<string>();
    // Docker's check fails from 1 s (one failure is unhealthy); the app serves at 4 s.
    const failure = await gate(
      { name: 'late', env: { START_DELAY: '4' }, healthyDeadlineMs: 30_000, minHealthyTimeMs: 2_000 },
      verdictsOf(seen),
    );
    expect(failure).toBeUndefined();
    expect(seen).toContain('unhealthy');
    expect(seen).toContain('healthy');
  });

  it('fails at the deadline a container that never becomes healthy, with that reason and both last verdicts', async () => {
    const failure = await gate({ name: 'never', tag: 'bad', probe: true, healthyDeadlineMs: 6_000, minHealthyTimeMs: 1_000 });
    expect(failure).toMatch(/^container [0-9a-f]{12} was not healthy within 6 s; last verdict: Docker's check unhealthy \(.*404.*\); the health URL answered 404$/);
  });

  it('fails at once a container that exits, naming its exit code', async () => {
    // START_DELAY the sample app refuses: it exits 64 at once. The deadline is far.
    const failure = await gate({ name: 'exits', env: { START_DELAY: 'soon' }, healthyDeadlineMs: 600_000, minHealthyTimeMs: 1_000 });
    expect(failure).toMatch(/^container [0-9a-f]{12} exited with code 64$/);
  });

  it('fails at once a container its restart policy keeps restarting', async () => {
    const failure = await gate({ name: 'loop', env: { START_DELAY: 'soon' }, restart: 'always', healthyDeadlineMs: 600_000, minHealthyTimeMs: 1_000 });
    expect(failure).toMatch(/^container [0-9a-f]{12} is restarting in a loop: \d+ restarts since it started, last exit code 64$/);
  });

  it('fails a container whose health URL turns failing during the soak', async () => {
    // Docker's check would not run before 60 s: only the health URL speaks.
    const failure = await gate({
      name: 'soak-url',
      env: { HEALTHY_FOR: '2' },
      probe: true,
      check: { interval: '60s', retries: 1 },
      healthyDeadlineMs: 30_000,
      minHealthyTimeMs: 20_000,
    });
    expect(failure).toMatch(
      new RegExp(`^container [0-9a-f]{12} turned unhealthy during the soak after \\d+\\.\\d s: the health URL failed ${PROBE_FAILURES_TO_FAIL} times in a row: answered 404$`),
    );
  });

  it("fails a container Docker's check finds unhealthy during the soak", async () => {
    const failure = await gate({ name: 'soak-docker', env: { HEALTHY_FOR: '3' }, healthyDeadlineMs: 30_000, minHealthyTimeMs: 25_000 });
    expect(failure).toMatch(/^container [0-9a-f]{12} turned unhealthy during the soak after \d+\.\d s: Docker's health check: .*404/);
  });
});
