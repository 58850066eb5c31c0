// A role's once-per-deploy job in the agent's config: the default timeout, and the refusals
// at load that name the field (a service the compose file lacks, the role's own service,
// an unknown setting, a negative time).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { loadAgentConfig } from '../../shared/contract/config.js';
import { ConfigError } from '../../shared/contract/errors.js';

async function agentFile(job: unknown) {
  const dir = await mkdtemp(join(tmpdir(), 'gvtest-job-config-'));
  const compose = join(dir, 'compose.yml');
  await writeFile(compose, toYaml({ services: { app: { image: 'x' }, migrate: { image: 'x', profiles: ['job'] } } }));
  const path = join(dir, 'agent.yml');
  await writeFile(
    path,
    toYaml({
      node: 'web-1',
      env: 'production',
      roles: { web: { compose, healthUrl: 'http://127.0.0.1:8080/healthz', lb: { backend: 'web', address: '10.0.0.1:8080' }, job } },
      serf: { bind: '10.0.0.1:7946', rpcAuth: 'rpc-auth-0123', dataDir: '/tmp/gvtest-serf' },
      redis: 'redis://127.0.0.1:6379',
      coordinator: { url: 'http://127.0.0.1:7700', token: 'token-0123' },
      loadBalancer: { runtimeApi: 'unix:/run/haproxy/admin.sock' },
      eventPipe: '/tmp/gvtest-events.pipe',
    }),
  );
  return { path, compose, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

async function refusal(job: unknown): Promise<string> {
  await using file = await agentFile(job);
  try {
    loadAgentConfig(file.path, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the config was accepted');
}

describe("a role's job in the agent config", () => {
  it('takes a service of the compose file, with a 10-minute timeout unless set; a role may have none', async () => {
    await using file = await agentFile({ service: 'migrate' });
    expect(loadAgentConfig(file.path, {}).roles.web?.job).toEqual({ service: 'migrate', timeoutMs: 600_000 });
    await using none = await agentFile(undefined);
    expect(loadAgentConfig(none.path, {}).roles.web?.job).toBeUndefined();
  });

  it('refuses a service the compose file does not define, naming the field and the file', async () => {
    expect(await refusal({ service: 'migrations' })).toMatch(/roles\.web\.job\.service names "migrations", which \/.*compose\.yml does not define/);
  });

  it("refuses the role's own service, an unknown setting and a negative time", async () => {
    expect(await refusal({ service: 'app' })).toMatch(/roles\.web\.job\.service must not be the role's own service "app"/);
    expect(await refusal({ service: 'migrate', retries: 3 })).toMatch(/roles\.web\.job.*retries/);
    expect(await refusal({ service: 'migrate', timeoutMs: -5 })).toMatch(/roles\.web\.job\.timeoutMs must be a positive number of milliseconds/);
  });
});
