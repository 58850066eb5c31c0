// A live batch of fuzzed deploy events through a real, encrypted Serf agent: the test fires
// them over Serf's RPC, Serf streams each to the agent's event stream (serf-event-stream.ts)
// and the agent's parser decides each one. Every valid event must arrive and be taken, every
// invalid one refused, and the stream and Serf must still work afterwards.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { decideDeployEvent, type EventDecision } from '../../agent/deploy/deploy-event.js';
import { streamUserEvents, type ForwardedEvent } from '../../shared/serf/serf-event-stream.js';
import { SerfAgentProcess } from '../../shared/serf/serf-agent-process.js';
import { until } from '../fixtures/poll.js';
import { freePort } from '../fixtures/server-process.js';
import { serfPayload, validEventIn } from './deploy-event-payloads.js';
import { draw, fuzzSeed, Tally } from './fuzz-run.js';

const EVENTS = 300;
const IP = '127.0.0.61';
const HOST = { env: 'production', roles: ['web', 'api'] };
const logger = pino({ level: 'silent' });


describe('deploy events fuzzed through a real Serf agent', () => {
  it(`takes every valid one of ${EVENTS} fired events and refuses every invalid one, and still hands events over afterwards`, { timeout: 120_000 }, async () => {
    const seed = fuzzSeed('Serf event batch fuzz');
    const dir = await mkdtemp(join(tmpdir(), 'gvfuzz-serf-'));
    const received: Array<ForwardedEvent & { decision: EventDecision }> = [];
    const serf = new SerfAgentProcess({
      nodeName: 'fuzz1',
      serf: {
        binary: 'serf',
        bind: `${IP}:${await freePort(IP)}`,
        rpc: `${IP}:${await freePort(IP)}`,
        join: [],
        rpcAuth: randomBytes(12).toString('hex'),
        encryptKey: randomBytes(32).toString('base64'),
        dataDir: join(dir, 'serf'),
      },
      tags: { env: HOST.env, roles: HOST.roles.join(',') },
      logger,
    });
    const tally = new Tally();
    try {
      await serf.start();
      const onEvent = (event: ForwardedEvent) => received.push({ ...event, decision: decideDeployEvent(event.event, event.payload, HOST, () => false) });
      await streamUserEvents({ connection: serf.client.connection, onEvent, logger });
      const fired: string[] = [];
      for (const payload of draw(serfPayload, seed, EVENTS)) {
        await serf.client.event('deploy', payload);
        fired.push(payload);
      }
      // Serf streams events in the order of their clocks: once the marker is in, every event fired before it is.
      const marker = JSON.stringify({ v: 1, role: 'web', env: 'production', id: `d-end${seed.toString(36)}` });
      await serf.client.event('deploy', marker);
      await until('the last event to come through the stream', () => (received.at(-1)?.payload === marker ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
      expect(received.at(-1)?.decision.kind).toBe('run');

      // The stream carries a payload whole, newlines and all; the agent trims the ends.
      const expected = fired.map((payload) => payload.trim());
      const got = received.slice(0, -1);
      tally.add('events fired', fired.length);
      tally.add('  with a newline (carried whole)', fired.filter((payload) => payload.includes('\n')).length);
      tally.add('events handed over', got.length);
      const sorted = (list: string[]) => [...list].sort();
      if (JSON.stringify(sorted(got.map((event) => event.payload))) !== JSON.stringify(sorted(expected))) {
        tally.violation('events lost or added', `expected ${expected.length} events, got ${got.length}`);
      }
      for (const event of got) {
        const valid = validEventIn(event.payload) !== undefined;
        const kind = event.decision.kind;
        tally.add(valid ? 'valid' : 'invalid');
        if (valid && kind === 'run') tally.add('  valid, taken (run)');
        else if (valid && kind === 'ignore') tally.add('  valid, for another environment or role (ignored)');
        else if (!valid && kind === 'invalid') tally.add('  invalid, refused');
        else tally.violation('wrong decisions', `${JSON.stringify(event.payload)}: ${kind}, but it is ${valid ? 'valid' : 'invalid'}`);
      }
      // Serf and the stream still work: a member list, and one more event through the stream.
      expect((await serf.client.members({ status: 'alive' })).map((member) => member.name)).toEqual(['fuzz1']);
      const after = marker.replace('d-end', 'd-aft');
      await serf.client.event('deploy', after);
      await until('an event fired after the batch to come through', () => (received.at(-1)?.payload === after ? true : undefined), { timeoutMs: 15_000, intervalMs: 50 });
    } finally {
      await serf.stop();
      await rm(dir, { recursive: true, force: true });
    }
    tally.print(`Serf event batch fuzz, seed ${seed}:`, [
      'events fired',
      '  with a newline (carried whole)',
      'events handed over',
      'valid',
      '  valid, taken (run)',
      '  valid, for another environment or role (ignored)',
      'invalid',
      '  invalid, refused',
      'events lost or added',
      'wrong decisions',
    ]);
    expect(tally.describe()).toBe('');
    expect(tally.get('  valid, taken (run)')).toBeGreaterThan(0);
    expect(tally.get('  invalid, refused')).toBeGreaterThan(0);
  });
});
