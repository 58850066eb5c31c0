// What `docker compose up` and `run` get of the agent's environment, against the real
// engine: a compose file that interpolates the agent's token, Redis URL or Serf keys gets
// its default instead, while the deploy's variables and the Docker client's own directory
// (DOCKER_CONFIG) still reach compose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify as toYaml } from 'yaml';
import { DockerComposeCli, composeRun, type ComposeProject } from '../../shared/docker/compose-cli.js';
import { DockerComposeProjectCli } from '../../shared/docker/compose-project.js';

const SOCKET = '/var/run/docker.sock';
const IMAGE = 'grapevine-base:bookworm';
const RUN = `${process.pid}`;
/** Secret-looking values in the agent's own environment for the length of this file. */
const AGENT_SECRETS = {
  GRAPEVINE_TOKEN: `gv_host_${RUN}_do-not-leak`,
  GRAPEVINE_REDIS_URL: `redis://agent:redis-pw-${RUN}@127.0.0.1:6379`,
  GRAPEVINE_SERF_RPC_AUTH: `serf-rpc-${RUN}`,
  GRAPEVINE_SERF_ENCRYPT_KEY: 'c2VyZi1nb3NzaXAta2V5LTMyLWJ5dGVzLWxvbmch',
};
/** Written by the Docker client into each container it creates when its config names a proxy: shows compose read DOCKER_CONFIG. */
const NO_PROXY_MARKER = `gvdock-env-${RUN}.invalid`;
const SEEN = {
  SEEN_TOKEN: '${GRAPEVINE_TOKEN:-absent}',
  SEEN_REDIS_URL: '${GRAPEVINE_REDIS_URL:-absent}',
  SEEN_SERF_RPC_AUTH: '${GRAPEVINE_SERF_RPC_AUTH:-absent}',
  SEEN_SERF_KEY: '${GRAPEVINE_SERF_ENCRYPT_KEY:-absent}',
  SEEN_NODE: '${GRAPEVINE_NODE:-absent}',
};
const run = (signal = AbortSignal.timeout(90_000)) => ({ env: { GRAPEVINE_IMAGE: IMAGE, GRAPEVINE_NODE: 'web-1' }, signal, timeoutMs: 60_000 });

describe('docker compose environment', () => {
  let root: string;
  let project: ComposeProject;
  const saved: Record<string, string | undefined> = {};

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'gvdock-env-'));
    const dockerConfig = join(root, 'docker-config');
    mkdirSync(dockerConfig);
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ proxies: { default: { noProxy: NO_PROXY_MARKER } } }));
    const file = join(root, 'compose.yml');
    writeFileSync(
      file,
      toYaml({
        services: {
          app: { image: '${GRAPEVINE_IMAGE}', command: ['sleep', 'infinity'], environment: SEEN, stop_grace_period: '1s' },
          job: { image: '${GRAPEVINE_IMAGE}', command: ['printenv', ...Object.keys(SEEN), 'NO_PROXY'], environment: SEEN },
        },
      }),
    );
    project = { file, name: `gvdock-env-${RUN}` };
    for (const [name, value] of Object.entries({ ...AGENT_SECRETS, DOCKER_CONFIG: dockerConfig })) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
  });

  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await new DockerComposeProjectCli(SOCKET).down(project, { ...run(), stopTimeoutS: 0 }).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  it("starts a container that sees none of the agent's secrets, only the deploy's variables", async () => {
    await new DockerComposeCli(SOCKET).up(project, 'app', run());
    const inspected = await execa('docker', ['container', 'inspect', '--format', '{{json .Config.Env}}', `${project.name}-app-1`]);
    const env = JSON.parse(inspected.stdout) as string[];
    expect(env).toEqual(
      expect.arrayContaining([
        'SEEN_TOKEN=absent',
        'SEEN_REDIS_URL=absent',
        'SEEN_SERF_RPC_AUTH=absent',
        'SEEN_SERF_KEY=absent',
        'SEEN_NODE=web-1',
        `NO_PROXY=${NO_PROXY_MARKER}`,
      ]),
    );
    const text = env.join('\n');
    for (const secret of Object.values(AGENT_SECRETS)) expect(text).not.toContain(secret);
  });

  it("runs a job container that sees none of the agent's secrets, only the deploy's variables", async () => {
    const job = await composeRun(SOCKET, project, 'job', run());
    expect(job).toEqual({ exitCode: 0, output: ['absent', 'absent', 'absent', 'absent', 'web-1', NO_PROXY_MARKER].join('\n') });
  });
});
