// Red-white routing's config: a coordinator's routing entries need the relay that applies them,
// a frontend's name is checked, and an agent's cluster is a cluster name. Files in a temp dir.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentConfig, loadCoordinatorConfig } from '../../shared/contract/config.js';
import { TOKEN } from '../fixtures/coordinator-harness.js';
import { TEST_GOSSIP_KEY } from '../fixtures/agent-config-file.js';

const env = { GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379', GRAPEVINE_TOKEN: TOKEN, GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123' };
const relay = { relay: { url: 'http://127.0.0.1:7701', tokenFile: '/etc/grapevine/coordinator-lb.token' } };

async function configFile(content: object) {
  const dir = await mkdtemp(join(tmpdir(), 'gvtest-routing-'));
  const path = join(dir, 'coordinator.json');
  await writeFile(path, JSON.stringify({ listen: {}, registry: '127.0.0.1:5000', serf: { bind: '127.0.0.1:7946', encryptKey: TEST_GOSSIP_KEY, dataDir: '/tmp/gvtest-serf' }, ...content }));
  return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

describe('routing config', () => {
  it('takes a frontend per role and environment with the relay, and none by default', async () => {
    await using config = await configFile({ loadBalancer: relay, routing: { web: { production: { frontend: 'web' } } } });
    expect(loadCoordinatorConfig(config.path, env).routing).toEqual({ web: { production: { frontend: 'web' } } });
    await using none = await configFile({});
    expect(loadCoordinatorConfig(none.path, env).routing).toEqual({});
  });

  it('refuses routing without loadBalancer.relay, and a malformed frontend, naming the field', async () => {
    await using noRelay = await configFile({ routing: { web: { production: { frontend: 'web' } } } });
    expect(() => loadCoordinatorConfig(noRelay.path, env)).toThrow(/routing: needs loadBalancer\.relay/);
    await using badName = await configFile({ loadBalancer: relay, routing: { web: { production: { frontend: 'web front' } } } });
    expect(() => loadCoordinatorConfig(badName.path, env)).toThrow(/routing\.web\.production\.frontend/);
  });

  it('reads an agent’s cluster as a cluster name', () => {
    const agent = (cluster: unknown) =>
      AgentConfig.safeParse({
        node: 'r1',
        env: 'production',
        roles: { web: { compose: '/etc/grapevine/compose/web.yml', service: 'app', lb: { backend: 'web.red', address: '10.0.0.2:8080' } } },
        serf: { bind: '127.0.0.1:7946', encryptKey: TEST_GOSSIP_KEY, dataDir: '/tmp/gvtest-serf', rpcAuth: 'rpc-auth-0123' },
        redis: 'redis://127.0.0.1:6379',
        coordinator: { url: 'http://127.0.0.1:7700', token: 'host-token-0123' },
        loadBalancer: { relay: { url: 'http://127.0.0.1:7701' } },
        eventPipe: '/run/grapevine/events',
        ...(cluster === undefined ? {} : { cluster }),
      });
    const red = agent('red');
    expect(red.success, JSON.stringify(red.error?.issues)).toBe(true);
    expect(red.data?.cluster).toBe('red');
    expect(agent(undefined).data?.cluster).toBeUndefined();
    const bad = agent('Red!');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['cluster']);
  });
});
