// The relay's config and the agent's choice between the relay and the admin socket: exactly
// one of them, and the relay never on a TCP runtime API, each refusal naming what is wrong.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { loadAgentConfig } from '../../shared/contract/config.js';
import { ConfigError } from '../../shared/contract/errors.js';
import { loadRelayConfig } from '../../shared/contract/relay-config.js';
import { agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';

const SERVICES = { app: { image: 'x', healthcheck: { test: ['CMD', 'true'] } } };

async function relayFile(config: Record<string, unknown>): Promise<AsyncDisposable & { path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'gvtest-relay-config-'));
  const path = join(dir, 'lb-relay.yml');
  await writeFile(path, toYaml(config));
  return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

const RELAY = { listen: { host: '192.0.2.4' }, runtimeApi: 'unix:/run/haproxy/admin.sock', redis: 'redis://192.0.2.5:6379', backends: ['web-production'] };

describe('agent config: the load balancer', () => {
  it('takes the relay instead of the admin socket', async () => {
    await using files = await agentConfigFile({ services: SERVICES, top: { loadBalancer: { relay: { url: 'https://192.0.2.4:7701' } } } });
    // Any gossip key: the agent refuses to start without one, and it is not what this test is about.
    const env = { GRAPEVINE_SERF_ENCRYPT_KEY: Buffer.alloc(32, 7).toString('base64') };
    expect(loadAgentConfig(files.path, env).loadBalancer).toEqual({ kind: 'haproxy', relay: { url: 'https://192.0.2.4:7701' }, drainTimeoutMs: 10_000 });
  });

  it('refuses both or neither, and a relay URL that is not http(s)', async () => {
    await using both = await agentConfigFile({ services: SERVICES, top: { loadBalancer: { relay: { url: 'https://192.0.2.4:7701' }, runtimeApi: 'unix:/run/haproxy/admin.sock' } } });
    expect(configRefusal(both.path)).toMatch(/loadBalancer must set exactly one of relay\.url .* and runtimeApi/);
    await using neither = await agentConfigFile({ services: SERVICES, top: { loadBalancer: { drainTimeoutMs: 5 } } });
    expect(configRefusal(neither.path)).toMatch(/loadBalancer must set exactly one of/);
    await using ftp = await agentConfigFile({ services: SERVICES, top: { loadBalancer: { relay: { url: 'ftp://192.0.2.4' } } } });
    expect(configRefusal(ftp.path)).toMatch(/loadBalancer\.relay\.url must be an http:\/\/ or https:\/\/ URL/);
  });
});

describe('relay config', () => {
  it('defaults the port, the drain bound and no extra host addresses', async () => {
    await using file = await relayFile(RELAY);
    expect(loadRelayConfig(file.path, {})).toMatchObject({ listen: { host: '192.0.2.4', port: 7701 }, maxDrainTimeoutMs: 60_000, hostAddresses: {} });
  });

  it('refuses a TCP runtime API, no backends and a host address that is not an IP, listing each', async () => {
    await using file = await relayFile({ ...RELAY, runtimeApi: 'tcp:127.0.0.1:9999', backends: [], hostAddresses: { h1: ['lb.example'] } });
    const refusal = (() => {
      try {
        loadRelayConfig(file.path, {});
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('the config was accepted');
    })();
    expect(refusal).toMatch(/runtimeApi must be unix:\/path \(the admin socket stays local to this host\)/);
    expect(refusal).toMatch(/backends must name at least one backend/);
    expect(refusal).toMatch(/hostAddresses\.h1\.0 must be an IPv4 or IPv6 address/);
  });

  it('takes the Redis URL from the environment, where its password belongs', async () => {
    await using file = await relayFile(RELAY);
    expect(loadRelayConfig(file.path, { GRAPEVINE_REDIS_URL: 'redis://relay:secret@192.0.2.5:6379' }).redis).toBe('redis://relay:secret@192.0.2.5:6379');
  });
});
