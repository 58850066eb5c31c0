// The docker compose wrapper against the real engine: arguments reach compose untouched by
// any shell, a failure carries compose's own words, and a cancelled or overdue `up` ends
// the compose process it started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { DockerComposeCli, DockerComposeError, type ComposeProject } from '../../shared/docker/compose-cli.js';
import { DockerComposeProjectCli } from '../../shared/docker/compose-project.js';
import { until } from '../fixtures/poll.js';

const SOCKET = '/var/run/docker.sock';
const IMAGE = 'grapevine-base:bookworm';
const cli = new DockerComposeCli(SOCKET);
const projectCli = new DockerComposeProjectCli(SOCKET);
// Unique per run, so two runs of the suite on one engine do not share projects.
const RUN = `${process.pid}`;
let marker = '';
const run = (env: Record<string, string> = {}, timeoutMs = 60_000, signal = AbortSignal.timeout(90_000)) => ({
  // GVDOCK_MARKER is where a shell that ran the path below would create a file.
  env: { GRAPEVINE_IMAGE: IMAGE, GRAPEVINE_NODE: 'n1', GVDOCK_MARKER: marker, ...env },
  signal,
  timeoutMs,
});

/** Compose processes this test process started that are still alive. */
function composeChildren(project: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(project);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * A compose project of one service in a directory whose name a shell would act on (quotes,
 * a command separator and a substitution). PID 1 of the service ignores SIGTERM, so
 * replacing its container waits out a 30 s stop grace period.
 */
function slowStoppingProject(root: string, name: string): ComposeProject {
  const dir = join(root, `${name}: it's; $(touch $GVDOCK_MARKER) & web`);
  mkdirSync(dir);
  const file = join(dir, 'compose.yml');
  writeFileSync(
      file,
    toYaml({
      services: {
        app: {
          image: '${GRAPEVINE_IMAGE}',
          command: ['sleep', 'infinity'],
          environment: { NODE_REVISION: '${GRAPEVINE_NODE}' },
          stop_grace_period: '30s',
        },
      },
    }),
  );
  return { file, name };
}

describe('docker compose wrapper', () => {
  let root: string;
  let project: ComposeProject;
  const projects: ComposeProject[] = [];
  const newProject = (name: string) => {
    const created = slowStoppingProject(root, name);
    projects.push(created);
    return created;
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'gvdock-cli-'));
    marker = join(root, 'shell-ran');
    project = newProject(`gvdock-cli-web-${RUN}`);
  });

  afterAll(async () => {
    for (const each of projects) await projectCli.down(each, { ...run(), stopTimeoutS: 0 }).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  it('starts the service from a compose file whose path a shell would misread, and lists it running', async () => {
    await cli.up(project, 'app', run());
    const services = await projectCli.ps(project, run());
    expect(services).toEqual([{ name: `${project.name}-app-1`, state: 'running' }]);
    expect(existsSync(marker)).toBe(false);
  });

  it('fails with compose\'s exit code and the last lines of its stderr', async () => {
    const failure = await cli.up(project, 'app', run({ GRAPEVINE_IMAGE: 'gvdock-cli:never-built' })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DockerComposeError);
    const error = failure as DockerComposeError;
    expect(error.code).toBe('compose_failed');
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(new RegExp(`^docker compose up \\(project ${project.name}\\) exited with code 1: .*no such image: gvdock-cli:never-built`, 'i'));
    expect(error.stderr).toMatch(/no such image/i);
  });

  it('ends its compose process when the deploy is cancelled', async () => {
    const project = newProject(`gvdock-cli-cancel-${RUN}`);
    await cli.up(project, 'app', run());
    // A new revision replaces the running container, which takes its 30 s grace period to stop.
    const cancel = new AbortController();
    const up = cli.up(project, 'app', run({ GRAPEVINE_NODE: 'n2' }, 60_000, cancel.signal)).catch((error: unknown) => error);
    await until('compose to be running', () => (composeChildren(project.name).length > 0 ? true : undefined));
    cancel.abort(new Error('host stands down'));
    const failure = await up;
    expect(failure).toBeInstanceOf(DockerComposeError);
    expect((failure as Error).message).toBe(`docker compose up (project gvdock-cli-cancel-${RUN}) was cancelled: host stands down`);
    await until('the compose process to end', () => (composeChildren(project.name).length === 0 ? true : undefined));
  });

  it('ends its compose process at its deadline', async () => {
    const project = newProject(`gvdock-cli-deadline-${RUN}`);
    await cli.up(project, 'app', run());
    const up = cli.up(project, 'app', run({ GRAPEVINE_NODE: 'n3' }, 2_000)).catch((error: unknown) => error);
    const failure = await up;
    expect(failure).toBeInstanceOf(DockerComposeError);
    expect((failure as Error).message).toBe(`docker compose up (project gvdock-cli-deadline-${RUN}) did not finish within 2 s`);
    await until('the compose process to end', () => (composeChildren(project.name).length === 0 ? true : undefined));
  });

  it('refuses to start once the deploy is already cancelled', async () => {
    const cancel = new AbortController();
    cancel.abort(new Error('host stands down'));
    await expect(cli.up(project, 'app', run({}, 60_000, cancel.signal))).rejects.toThrow('host stands down');
    expect(composeChildren(project.name)).toEqual([]);
  });

  it('gives up on a package-run command at its deadline, naming the command', async () => {
    const failure = await projectCli.ps(project, run({}, 1)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DockerComposeError);
    expect((failure as Error).message).toBe(`docker compose ps (project ${project.name}) did not finish within 1 ms`);
    // The package cannot stop the command it started: it is abandoned and ends on its own.
    await until('the abandoned compose ps to end', () => (composeChildren(project.name).length === 0 ? true : undefined));
  });
});
