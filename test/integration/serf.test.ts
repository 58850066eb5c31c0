// The Serf wrapper (its process, its RPC client and event stream) against real `serf agent` processes on loopback addresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SerfAgentProcess } from '../../shared/serf/serf-agent-process.js';
import { SerfRpcClient } from '../../shared/serf/serf-rpc-client.js';
import { rolesTagPattern } from '../../shared/ports/membership.js';
import type { ForwardedEvent } from '../../shared/serf/serf-event-stream.js';
import { SerfRpcError } from '../../shared/serf/serf-rpc.js';
import { collectEvents } from '../fixtures/serf-events.js';
import { until } from '../fixtures/poll.js';
import { freePort } from '../fixtures/server-process.js';

const logger = pino({ level: 'silent' });
const rpcAuth = 'serf-test-token-1234';
/** Gossip settles within seconds on loopback; checks are cheap, so ask often. */
const gossip = { timeoutMs: 15_000, intervalMs: 50 };

interface Node {
  name: string;
  rpc: string;
  serf: SerfAgentProcess;
  received: ForwardedEvent[];
}

describe('serf wrapper on real agents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-serf-'));
  const nodes: Node[] = [];
  const specs = [
    { name: 'a1', ip: '127.0.0.21', tags: { env: 'production', roles: 'web' } },
    { name: 'a2', ip: '127.0.0.22', tags: { env: 'production', roles: 'api,web' } },
    { name: 'a3', ip: '127.0.0.23', tags: { env: 'staging', roles: 'web' } },
  ];
  let cli: SerfRpcClient;

  beforeAll(async () => {
    const gossipPort = await freePort();
    for (const spec of specs) {
      const rpc = `${spec.ip}:${await freePort(spec.ip)}`;
      const serf = new SerfAgentProcess({
        nodeName: spec.name,
        serf: {
          binary: 'serf',
          bind: `${spec.ip}:${gossipPort}`,
          rpc,
          join: [`${specs[0]!.ip}:${gossipPort}`],
          rpcAuth,
          dataDir: join(dir, spec.name),
        },
        tags: spec.tags,
        logger,
      });
      await serf.start();
      const { received } = await collectEvents(serf, logger);
      nodes.push({ name: spec.name, rpc, serf, received });
    }
    cli = nodes[0]!.serf.client;
    await until('all three agents to see each other', async () => ((await cli.members({ status: 'alive' })).length === 3 ? true : undefined), gossip);
  });

  afterAll(async () => {
    for (const node of nodes) {
      await node.serf.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists alive members filtered by environment and role tags', async () => {
    const web = await cli.members({ status: 'alive', tags: { env: 'production', roles: rolesTagPattern('web') } });
    expect(web.map((m) => m.name).sort()).toEqual(['a1', 'a2']);
    const api = await cli.members({ status: 'alive', tags: { env: 'production', roles: rolesTagPattern('api') } });
    expect(api.map((m) => m.name)).toEqual(['a2']);
    expect(await cli.members({ tags: { env: 'qa' } })).toEqual([]);
    // Full-match filters: "we" must not match the role "web".
    expect(await cli.members({ tags: { roles: rolesTagPattern('we') } })).toEqual([]);
  });

  it('carries an event to every agent through its RPC stream, once each, with the payload intact', async () => {
    const payload = JSON.stringify({ v: 1, role: 'web', env: 'production', id: 'd-serftest1' });
    await cli.event('deploy', payload);
    await until('every agent to hand the event over', () => (nodes.every((n) => n.received.length >= 1) ? true : undefined), gossip);
    for (const node of nodes) {
      expect(node.received).toHaveLength(1);
      expect(node.received[0]).toMatchObject({ event: 'deploy', payload });
    }
    await cli.event('deploy', payload.replace('serftest1', 'serftest2'));
    await until('the second event', () => (nodes.every((n) => n.received.length >= 2) ? true : undefined), gossip);
    expect(nodes.map((n) => n.received.length)).toEqual([2, 2, 2]);
  });

  it('carries a retire event through the same stream, named, after a deploy event', async () => {
    const deploy = JSON.stringify({ v: 1, role: 'web', env: 'production', id: 'd-serftest3' });
    const retire = JSON.stringify({ v: 1, role: 'web', env: 'staging', colour: 'blue', id: 'd-serftest2' });
    const before = nodes.map((n) => n.received.length);
    await cli.event('deploy', deploy);
    await cli.event('retire', retire);
    await until('every agent to hand both events over', () => (nodes.every((n, i) => n.received.length >= before[i]! + 2) ? true : undefined), gossip);
    for (const [i, node] of nodes.entries()) {
      // Gossip may deliver the two in either order; each arrives once, under its own name.
      const arrived = node.received.slice(before[i]);
      expect(arrived).toHaveLength(2);
      expect(arrived).toEqual(expect.arrayContaining([{ event: 'deploy', payload: deploy }, { event: 'retire', payload: retire }]));
    }
  });

  it('drops a member that left from the alive list', async () => {
    const leaving = nodes.pop()!;
    await leaving.serf.stop();
    await until(
      'a3 to be gone from the alive members',
      async () => ((await cli.members({ status: 'alive' })).some((m) => m.name === 'a3') ? undefined : true),
      gossip,
    );
    const all = await cli.members();
    expect(all.find((m) => m.name === 'a3')?.status).toBe('left');
  });

  it('refuses a wrong RPC token with a clear error', async () => {
    const intruder = new SerfRpcClient({ rpcAddr: nodes[0]!.rpc, rpcAuth: 'wrong-token-0000' });
    const refused = await intruder.members().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SerfRpcError);
    expect(String((refused as Error).message)).toContain('refused the RPC token');
    intruder.close();
  });
});
