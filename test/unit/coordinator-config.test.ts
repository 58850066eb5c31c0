// The coordinator's configuration: promotion steps and the deploy deadline, with their
// defaults and the refusals that name the field. Files in a temp dir, no services.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCoordinatorConfig } from '../../shared/contract/config.js';
import { ConfigError } from '../../shared/contract/errors.js';
import { TOKEN } from '../fixtures/coordinator-harness.js';
import { TEST_GOSSIP_KEY } from '../fixtures/agent-config-file.js';

describe('coordinator config', () => {
  const base = {
    GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379',
    GRAPEVINE_TOKEN: TOKEN,
    GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123',
  };
  const file = async (content: object) => {
    const dir = await mkdtemp(join(tmpdir(), 'gvtest-config-'));
    const path = join(dir, 'coordinator.json');
    await writeFile(path, JSON.stringify({ listen: {}, registry: '127.0.0.1:5000', serf: { bind: '127.0.0.1:7946', encryptKey: TEST_GOSSIP_KEY, dataDir: '/tmp/gvtest-serf' }, ...content }));
    return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
  };

  it('defaults promotion to staging -> production per named role, and the deadline to 30 minutes', async () => {
    await using config = await file({ promote: { web: {}, api: { from: 'qa', to: 'staging' } } });
    const loaded = loadCoordinatorConfig(config.path, base);
    expect(loaded.promote).toEqual({ web: { from: 'staging', to: 'production' }, api: { from: 'qa', to: 'staging' } });
    expect(loaded.deployDeadlineMs).toBe(30 * 60_000);
    expect(loadCoordinatorConfig(config.path, { ...base, GRAPEVINE_DEPLOY_DEADLINE_MS: '90000' }).deployDeadlineMs).toBe(90_000);
  });

  it('refuses a promotion into the same environment, naming the field', async () => {
    await using config = await file({ promote: { web: { from: 'production', to: 'production' } } });
    expect(() => loadCoordinatorConfig(config.path, base)).toThrow(ConfigError);
    expect(() => loadCoordinatorConfig(config.path, base)).toThrow(/promote\.web/);
  });
});
