// Global setup of the `integration` project: brings docker-compose.test.yml up once per run
// through testcontainers (images built first, health checks waited on), provides its
// addresses to the test files, and takes it down when the run ends.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type { TestProject } from 'vitest/node';
import { writeMainConfig } from './haproxy-instance.js';
import { BASE_IMAGE, COMPOSE_FILE, PROJECT_PREFIX, PROJECT_ROOT, RUN_LABEL, type TestInfra } from './infra-contract.js';

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 2_000;
const HAPROXY_DIR_PREFIX = 'gvinfra-haproxy-';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Set here, before testcontainers reads it, so a plain `npm test` works: its reaper image
  // cannot be pulled, and the teardown below (or the next run's sweep) removes everything.
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const { DockerComposeEnvironment, Wait } = await import('testcontainers');
  const startedAt = Date.now();
  await requireBaseImage();
  await buildImages();
  await removeAbandonedRuns();

  const name = `${PROJECT_PREFIX}${process.pid}`;
  const haproxyDir = await mkdtemp(path.join(os.tmpdir(), `${HAPROXY_DIR_PREFIX}${process.pid}-`));
  // The service's main process needs a config; each startHAProxy runs a process of its own.
  await writeMainConfig(haproxyDir);
  const environment = await new DockerComposeEnvironment(PROJECT_ROOT, COMPOSE_FILE)
    .withProjectName(name)
    .withEnvironment({ GVINFRA_HAPROXY_DIR: haproxyDir })
    .withDefaultWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(STARTUP_TIMEOUT_MS)
    .up()
    .catch(async (error: unknown) => {
      await rm(haproxyDir, { recursive: true, force: true });
      throw new Error(`could not bring up ${COMPOSE_FILE} as ${name}: ${String(error)}`, { cause: error });
    });

  const infra: TestInfra = {
    project: name,
    redis: { host: '127.0.0.1', port: environment.getContainer('redis-1').getMappedPort(6379) },
    haproxy: { dir: haproxyDir, container: environment.getContainer('haproxy-1').getId() },
    registry: `127.0.0.1:${environment.getContainer('registry-1').getMappedPort(5000)}`,
  };
  project.provide('testInfra', infra);
  console.info(`test infrastructure ${name} up in ${Date.now() - startedAt} ms: redis ${infra.redis.port}, registry ${infra.registry}, haproxy ${haproxyDir}`);

  return async () => {
    await removeRunContainers(name);
    await environment.down({ removeVolumes: true, timeout: STOP_TIMEOUT_MS });
    await rm(haproxyDir, { recursive: true, force: true });
  };
}

async function requireBaseImage(): Promise<void> {
  const docker = await execa('docker', ['info', '--format', '{{.ServerVersion}}'], { reject: false });
  if (docker.exitCode !== 0) {
    throw new Error(`the Docker engine does not answer (${String(docker.stderr).trim()}): run provisioning/install.sh, or run only the unit tests (npm run test:unit)`);
  }
  const image = await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', BASE_IMAGE], { reject: false });
  if (image.exitCode !== 0) {
    throw new Error(`the test images are built FROM ${BASE_IMAGE}, which is missing: build it with provisioning/base-image.sh (as root)`);
  }
}

/**
 * Through the project's script, not `up --build`: compose labels an image with the project
 * that built it, and a build under this run's own name would make new images every run.
 */
async function buildImages(): Promise<void> {
  const build = await execa('bash', [path.join(PROJECT_ROOT, 'provisioning', 'test-images', 'build.sh')], { reject: false, all: true });
  if (build.exitCode !== 0) throw new Error(`provisioning/test-images/build.sh failed:\n${String(build.all)}`);
}

/** A run that was killed before its teardown leaves its project behind; its vitest pid is gone. */
async function removeAbandonedRuns(): Promise<void> {
  const listed = await execa('docker', ['ps', '--all', '--filter', 'label=com.docker.compose.project', '--format', '{{.Label "com.docker.compose.project"}}']);
  const runs = new Set(String(listed.stdout).split('\n').filter((project) => project.startsWith(PROJECT_PREFIX)));
  for (const run of runs) {
    if (isAlive(Number(run.slice(PROJECT_PREFIX.length)))) continue;
    await removeRunContainers(run);
    await execa('docker', ['compose', '--project-name', run, 'down', '--volumes', '--timeout', '1'], { reject: false });
  }
  const leftovers = (await readdir(os.tmpdir())).filter((entry) => entry.startsWith(HAPROXY_DIR_PREFIX));
  for (const entry of leftovers) {
    const pid = Number(entry.slice(HAPROXY_DIR_PREFIX.length).split('-')[0]);
    if (!isAlive(pid)) await rm(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
}

/** Containers test files started themselves (startRedis({ own: true })) and did not remove. */
async function removeRunContainers(run: string): Promise<void> {
  const listed = await execa('docker', ['ps', '--all', '--quiet', '--filter', `label=${RUN_LABEL}=${run}`]);
  const ids = String(listed.stdout).split('\n').filter(Boolean);
  if (ids.length > 0) await execa('docker', ['rm', '--force', '--volumes', ...ids], { reject: false });
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
