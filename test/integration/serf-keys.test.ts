// Serf gossip encryption and key rotation against real `serf agent` processes on loopback:
// an agent without the key, or with a wrong one, cannot join; a rotation keeps every member
// and events flowing, locks the old key out, and the new key survives an agent's restart.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRotationError, rotateGossipKey } from '../../coordinator/key-rotation.js';
import { keyFingerprint, newGossipKey } from '../../shared/contract/gossip-key.js';
import type { ForwardedEvent } from '../../shared/serf/serf-event-stream.js';
import { collectEvents } from '../fixtures/serf-events.js';
import { SerfAgentProcess } from '../../shared/serf/serf-agent-process.js';
import { SerfRpcKeyring } from '../../shared/serf/serf-keys.js';
import type { SerfKeyring } from '../../shared/ports/serf-keyring.js';
import { until } from '../fixtures/poll.js';
import { freePort } from '../fixtures/server-process.js';

const logger = pino({ level: 'silent' });
const RPC_AUTH = 'serf-keys-test-1234';
const gossip = { timeoutMs: 20_000, intervalMs: 100 };

interface Node {
  name: string;
  ip: string;
  rpc: string;
  serf: SerfAgentProcess;
  received: ForwardedEvent[];
}

describe('serf gossip keys on real agents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-serfkeys-'));
  const firstKey = newGossipKey();
  /** The key every member holds as the tests go. */
  let currentKey = firstKey;
  const nodes: Node[] = [];
  const strays: SerfAgentProcess[] = [];
  let gossipPort: number;
  let seed: string;

  /** An agent on `ip` joining the first member, with `key` (none: unencrypted). */
  async function startAgent(name: string, ip: string, key: string | undefined, withInbox: boolean): Promise<Node> {
    const rpc = `${ip}:${await freePort(ip)}`;
    const serf = new SerfAgentProcess({
      nodeName: name,
      serf: { binary: 'serf', bind: `${ip}:${gossipPort}`, rpc, join: seed ? [seed] : [], rpcAuth: RPC_AUTH, ...(key ? { encryptKey: key } : {}), dataDir: join(dir, name) },
      tags: { env: 'production', roles: 'web' },
      logger,
    });
    await serf.start();
    const received = withInbox ? (await collectEvents(serf, logger)).received : [];
    return { name, ip, rpc, serf, received };
  }

  const aliveNames = async () => (await nodes[0]!.serf.client.members({ status: 'alive' })).map((m) => m.name).sort();

  /** `serf join` through the outsider's own RPC: Serf answers at once whether the members would take it. */
  async function joinFrom(node: Pick<Node, 'rpc'>): Promise<{ exitCode: number | undefined; output: string }> {
    const result = await execa('serf', ['join', `-rpc-addr=${node.rpc}`, seed], { env: { SERF_RPC_AUTH: RPC_AUTH }, reject: false, all: true, timeout: 15_000 });
    return { exitCode: result.exitCode, output: String(result.all) };
  }

  beforeAll(async () => {
    gossipPort = await freePort('127.0.0.61');
    seed = '';
    nodes.push(await startAgent('k1', '127.0.0.61', firstKey, true));
    seed = `127.0.0.61:${gossipPort}`;
    nodes.push(await startAgent('k2', '127.0.0.62', firstKey, true));
    nodes.push(await startAgent('k3', '127.0.0.63', firstKey, true));
    await until('three members alive', async () => ((await aliveNames()).length === 3 ? true : undefined), gossip);
  });

  afterAll(async () => {
    for (const agent of [...nodes.map((n) => n.serf), ...strays]) await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps out an agent without the key and one with a wrong key', async () => {
    const plain = await startAgent('no-key', '127.0.0.64', undefined, false);
    strays.push(plain.serf);
    const plainJoin = await joinFrom(plain);
    expect(plainJoin.exitCode).not.toBe(0);
    expect(plainJoin.output).toMatch(/encrypt/i);

    const wrong = await startAgent('wrong-key', '127.0.0.65', newGossipKey(), false);
    strays.push(wrong.serf);
    const wrongJoin = await joinFrom(wrong);
    expect(wrongJoin.exitCode).not.toBe(0);
    expect(wrongJoin.output).toMatch(/decrypt|key/i);

    expect(await aliveNames()).toEqual(['k1', 'k2', 'k3']);
    await plain.serf.stop();
    await wrong.serf.stop();
  });

  it('stops before removing any key when a member does not answer, and finishes when run again once it is back', async () => {
    const keyring = new SerfRpcKeyring({ rpc: nodes[0]!.rpc, rpcAuth: RPC_AUTH });
    const secondKey = newGossipKey();
    // k3's Serf freezes (SIGSTOP, by the id its supervisor recorded) once the rotation has begun: a member that cannot answer the install.
    const k3Serf = Number(readFileSync(join(dir, 'k3', 'serf.pid'), 'utf8'));
    const freezingK3: SerfKeyring = {
      list: () => keyring.list(),
      install: (key) => (process.kill(k3Serf, 'SIGSTOP'), keyring.install(key)),
      use: (key) => keyring.use(key),
      remove: (key) => keyring.remove(key),
    };
    let stopped: unknown;
    try {
      stopped = await rotateGossipKey({ keyring: freezingK3, membership: nodes[0]!.serf.client }, secondKey).catch((error: unknown) => error);
    } finally {
      process.kill(k3Serf, 'SIGCONT');
    }
    expect(stopped).toBeInstanceOf(KeyRotationError);
    const { step, report, message } = stopped as KeyRotationError;
    expect(step).toBe('install');
    expect(message).toMatch(/rotation stopped at install: 2 of 3 members answered; 1 did not answer/);
    expect(message).toMatch(/the old key is still the primary/);
    expect(report.removed).toEqual([]);
    await until('k3 alive again', async () => ((await aliveNames()).length === 3 ? true : undefined), gossip);
    // Nothing was taken away: all three still hold the first key; the new one is on the two that answered (k3 may take it late, once thawed).
    const held = (await keyring.list()).keys;
    expect(held[firstKey]).toBe(3);
    expect(held[secondKey]).toBeGreaterThanOrEqual(2);

    const resumed = await rotateGossipKey({ keyring, membership: nodes[0]!.serf.client }, secondKey);
    expect(resumed.removed).toEqual([keyFingerprint(firstKey)]);
    expect((await keyring.list()).keys).toEqual({ [secondKey]: 3 });
    expect(await aliveNames()).toEqual(['k1', 'k2', 'k3']);
    currentKey = secondKey;
  });

  it('rotates the key with every member answering each step; events still reach them all and the old key no longer gets in', async () => {
    const keyring = new SerfRpcKeyring({ rpc: nodes[0]!.rpc, rpcAuth: RPC_AUTH });
    const nextKey = newGossipKey();
    const report = await rotateGossipKey({ keyring, membership: nodes[0]!.serf.client }, nextKey);
    expect(report.steps.map((s) => s.step)).toEqual(['check', 'install', 'use', 'remove', 'verify']);
    expect(report.steps.every((s) => s.members === 3 && s.answered === 3)).toBe(true);
    expect(report.removed).toEqual([keyFingerprint(currentKey)]);
    expect((await keyring.list()).keys).toEqual({ [nextKey]: 3 });

    expect(await aliveNames()).toEqual(['k1', 'k2', 'k3']);
    const payload = JSON.stringify({ v: 1, role: 'web', env: 'production', id: 'd-afterrotation' });
    await nodes[0]!.serf.client.event('deploy', payload);
    await until('every member to hand the event over', () => (nodes.every((n) => n.received.some((e) => e.payload === payload)) ? true : undefined), gossip);

    const stale = await startAgent('old-key', '127.0.0.66', currentKey, false);
    strays.push(stale.serf);
    const staleJoin = await joinFrom(stale);
    expect(staleJoin.exitCode).not.toBe(0);
    await stale.serf.stop();
    const fresh = await startAgent('new-key', '127.0.0.67', nextKey, false);
    strays.push(fresh.serf);
    expect((await joinFrom(fresh)).exitCode).toBe(0);
    await fresh.serf.stop();
    await until('the new-key agent to have left', async () => ((await aliveNames()).includes('new-key') ? undefined : true), gossip);

    // The key a rotation installed survives a restart, though the member's config still names the first key.
    const k3 = nodes[2]!;
    await k3.serf.stop();
    await until('k3 to have left', async () => ((await aliveNames()).includes('k3') ? undefined : true), gossip);
    const restarted = await startAgent('k3', k3.ip, firstKey, true);
    nodes[2] = restarted;
    expect(JSON.parse(readFileSync(join(dir, 'k3', 'keyring.json'), 'utf8'))).toEqual([nextKey]);
    await until('k3 back among the alive members', async () => ((await aliveNames()).includes('k3') ? true : undefined), gossip);
    expect(await aliveNames()).toEqual(['k1', 'k2', 'k3']);
  });
});
