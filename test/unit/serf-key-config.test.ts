// Gossip encryption is on unless a config says devMode: the agent's and the coordinator's
// config loads refuse a missing key, a key file others may read, and two keys at once.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig, loadCoordinatorConfig } from '../../shared/contract/config.js';
import { TEST_GOSSIP_KEY, agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';

const services = { app: { image: 'web', healthcheck: { test: ['CMD', 'true'] } } };
const noKey = { bind: '10.0.0.1:7946', rpcAuth: 'rpc-auth-0123', dataDir: '/tmp/gvtest-serf' };

async function keyFile(content: string, mode: number): Promise<{ path: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'gvtest-serf-key-'));
  const path = join(dir, 'serf.key');
  await writeFile(path, content, { mode });
  await chmod(path, mode);
  return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

describe('serf gossip key in the config', () => {
  it('refuses an agent config without a key, saying what to set and how to make one', async () => {
    await using files = await agentConfigFile({ services, top: { serf: noKey } });
    const refusal = configRefusal(files.path);
    expect(refusal).toMatch(/serf\.encryptKey: no Serf gossip key/);
    expect(refusal).toMatch(/serf\.encryptKeyFile/);
    expect(refusal).toMatch(/serf keygen/);
    expect(refusal).toMatch(/devMode: true/);
  });

  it('lets an agent run without a key only in dev mode', async () => {
    await using files = await agentConfigFile({ services, top: { serf: noKey, devMode: true } });
    const config = loadAgentConfig(files.path, {});
    expect(config.devMode).toBe(true);
    expect(config.serf.encryptKey).toBeUndefined();
  });

  it('reads the key from a 0600 key file, and takes GRAPEVINE_SERF_ENCRYPT_KEY as the key', async () => {
    await using key = await keyFile(`${TEST_GOSSIP_KEY}\n`, 0o600);
    await using files = await agentConfigFile({ services, top: { serf: { ...noKey, encryptKeyFile: key.path } } });
    expect(loadAgentConfig(files.path, {}).serf.encryptKey).toBe(TEST_GOSSIP_KEY);
    await using bare = await agentConfigFile({ services, top: { serf: noKey } });
    expect(loadAgentConfig(bare.path, { GRAPEVINE_SERF_ENCRYPT_KEY: TEST_GOSSIP_KEY }).serf.encryptKey).toBe(TEST_GOSSIP_KEY);
  });

  it('refuses a key file other users may read and one without a key; a key given as such overrides the file', async () => {
    await using open = await keyFile(TEST_GOSSIP_KEY, 0o644);
    await using openConfig = await agentConfigFile({ services, top: { serf: { ...noKey, encryptKeyFile: open.path } } });
    expect(configRefusal(openConfig.path)).toMatch(new RegExp(`may be read or changed by other users: chmod 600 ${open.path}`));

    await using junk = await keyFile('not-a-key', 0o600);
    await using junkConfig = await agentConfigFile({ services, top: { serf: { ...noKey, encryptKeyFile: junk.path } } });
    expect(configRefusal(junkConfig.path)).toMatch(/must hold one key made by `serf keygen`/);

    await using overridden = await agentConfigFile({ services, top: { serf: { ...noKey, encryptKeyFile: junk.path } } });
    expect(loadAgentConfig(overridden.path, { GRAPEVINE_SERF_ENCRYPT_KEY: TEST_GOSSIP_KEY }).serf.encryptKey).toBe(TEST_GOSSIP_KEY);
  });

  it('refuses a coordinator config without a key unless in dev mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gvtest-config-'));
    try {
      const path = join(dir, 'coordinator.json');
      const env = { GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379', GRAPEVINE_TOKEN: 'token-0123456', GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123' };
      const config = { listen: {}, registry: '127.0.0.1:5000', serf: { bind: '127.0.0.1:7946', dataDir: '/tmp/gvtest-serf' } };
      await writeFile(path, JSON.stringify(config));
      expect(() => loadCoordinatorConfig(path, env)).toThrow(/coordinator config .* is invalid: serf\.encryptKey: no Serf gossip key/);
      await writeFile(path, JSON.stringify({ ...config, devMode: true }));
      expect(loadCoordinatorConfig(path, env).devMode).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
