// An agent notices its Serf agent (re)join the cluster, against real `serf agent`s on loopback:
// one call when another agent joins it, none while it is alone, one more when the other
// comes back after it had left.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { SerfRejoinWatch } from '../../agent/serf-rejoin.js';
import { SerfAgentProcess } from '../../shared/serf/serf-agent-process.js';
import { freePort } from '../fixtures/server-process.js';
import { until } from '../fixtures/poll.js';

const logger = pino({ level: 'silent' });
const IP = '127.0.0.42';
const RPC_AUTH = 'serf-rejoin-test-token';

describe('serf rejoin watch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gvtest-serfrejoin-'));
  const started: SerfAgentProcess[] = [];
  afterAll(async () => {
    await Promise.allSettled(started.map((serf) => serf.stop(1_000)));
    rmSync(dir, { recursive: true, force: true });
  });

  async function serfAgent(name: string, joinList: string[], bind?: string): Promise<{ serf: SerfAgentProcess; bind: string }> {
    const address = bind ?? `${IP}:${await freePort(IP)}`;
    const serf = new SerfAgentProcess({
      nodeName: name,
      serf: { binary: 'serf', bind: address, rpc: `${IP}:${await freePort(IP)}`, join: joinList, rpcAuth: RPC_AUTH, dataDir: join(dir, name) },
      tags: { env: 'production', roles: 'web' },
      logger,
    });
    started.push(serf);
    await serf.start();
    return { serf, bind: address };
  }

  it('calls once when another agent joins, and again when it comes back after leaving', async () => {
    const a = await serfAgent('a', []);
    const calls: string[] = [];
    const stop = new AbortController();
    const watch = new SerfRejoinWatch({ self: 'a', members: () => a.serf.client.members(), onRejoin: (how) => calls.push(how), intervalMs: 200, minGapMs: 0, logger });
    const watching = watch.run(stop.signal);
    try {
      // Alone: several reads of the member list, no call.
      const alone = await a.serf.client.members();
      expect(alone.map((m) => m.name)).toEqual(['a']);
      expect(calls).toEqual([]);

      const b = await serfAgent('b', [a.bind]);
      await until('a call after b joined', async () => (calls.length > 0 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
      expect(calls).toEqual(['joined']);

      // b leaves gracefully: a is alone again; b's return is a rejoin.
      await b.serf.stop();
      await until('a to see b leave', async () => ((await a.serf.client.members()).find((m) => m.name === 'b')?.status === 'left' ? true : undefined), {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      await serfAgent('b', [a.bind], b.bind);
      await until('a second call after b came back', async () => (calls.length > 1 ? true : undefined), { timeoutMs: 15_000, intervalMs: 100 });
      expect(calls).toEqual(['joined', 'rejoined']);
    } finally {
      stop.abort();
      await watching;
    }
  });
});
