// Fuzzes how an agent reads a deploy event: 10 000 generated payloads through the parser
// (agent/deploy/deploy-event.ts), and generated streams through the real named pipe the
// Serf handler writes into (shared/serf/event-inbox.ts), cut into random writes.
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { decideDeployEvent, type EventDecision } from '../../agent/deploy/deploy-event.js';
import { EventInbox, type ForwardedEvent } from '../../shared/serf/event-inbox.js';
import { until } from '../fixtures/poll.js';
import { anyPayload, ENVS, ROLES, validEventIn } from './deploy-event-payloads.js';
import { draw, fuzzSeed, Tally } from './fuzz-run.js';

const PAYLOADS = 10_000;
const STREAMS = 200;
/** The inbox's longest line; Serf's own limit (512 bytes) is far below it. */
const MAX_LINE = 4096;
const logger = pino({ level: 'silent' });

const host = fc.record({
  env: fc.constantFrom(...ENVS),
  roles: fc.subarray([...ROLES], { minLength: 1 }),
  handled: fc.array(fc.stringMatching(/^d-[a-z0-9]{6}$/), { maxLength: 3 }),
});
const eventName = fc.oneof({ weight: 19, arbitrary: fc.constant('deploy') }, { weight: 1, arbitrary: fc.constantFrom('deploy ', 'Deploy', 'rollback', '', 'deploy\n') });
const cases = fc.record({ name: eventName, payload: anyPayload, host });

/** What the agent must decide, from the test's own reading of the contract. */
function expected(name: string, payload: string, identity: { env: string; roles: string[]; handled: string[] }): EventDecision['kind'] {
  if (name !== 'deploy') return 'ignore';
  const event = validEventIn(payload);
  if (!event) return 'invalid';
  const mine = event.env === identity.env && identity.roles.includes(event.role) && !identity.handled.includes(event.id);
  return mine ? 'run' : 'ignore';
}

describe("the agent's deploy event parser under fuzzed payloads", () => {
  it(`decides ${PAYLOADS} generated payloads without throwing, running exactly the valid events meant for the host`, { timeout: 60_000 }, () => {
    const seed = fuzzSeed('deploy event parser fuzz');
    const tally = new Tally();
    for (const { name, payload, host: identity } of draw(cases, seed, PAYLOADS)) {
      const seen = () => `${JSON.stringify(name)} ${JSON.stringify(payload.slice(0, 300))}${payload.length > 300 ? `… (${payload.length} characters)` : ''} for ${JSON.stringify(identity)}`;
      tally.add('payloads');
      let decision: EventDecision;
      try {
        decision = decideDeployEvent(name, payload, identity, (id) => identity.handled.includes(id));
      } catch (error) {
        tally.violation('crashes', `${seen()}: ${String(error)}`);
        continue;
      }
      tally.add({ run: 'accepted (run)', ignore: 'ignored (another host, handled, not a deploy)', invalid: 'refused (invalid)' }[decision.kind]);
      const want = expected(name, payload, identity);
      if (decision.kind !== want) tally.violation('wrong decisions', `${seen()}: ${decision.kind} (${'reason' in decision ? decision.reason : ''}), expected ${want}`);
      if (decision.kind === 'run' && JSON.stringify(decision.payload) !== JSON.stringify(validEventIn(payload))) {
        tally.violation('accepted events carrying more than v, role, env and id', `${seen()}: ${JSON.stringify(decision.payload)}`);
      }
      if (decision.kind === 'invalid' && !/^payload/.test(decision.reason)) tally.violation('refusals without a clear reason', `${seen()}: ${decision.reason}`);
    }
    tally.print(`deploy event parser fuzz, seed ${seed}:`, [
      'payloads',
      'accepted (run)',
      'ignored (another host, handled, not a deploy)',
      'refused (invalid)',
      'crashes',
      'wrong decisions',
      'accepted events carrying more than v, role, env and id',
      'refusals without a clear reason',
    ]);
    expect(tally.describe()).toBe('');
    expect(tally.get('payloads')).toBe(PAYLOADS);
    expect(tally.get('accepted (run)')).toBeGreaterThan(0);
    expect(tally.get('refused (invalid)')).toBeGreaterThan(0);
  });

  it(`hands over every line of ${STREAMS} generated streams written into the real pipe in random pieces, dropping only lines over ${MAX_LINE} bytes, whole`, { timeout: 60_000 }, async () => {
    const seed = fuzzSeed('event pipe framing fuzz');
    const line = fc.oneof(
      { weight: 8, arbitrary: anyPayload.map((payload) => payload.replace(/\n/g, ' ')).filter((payload) => payload.length <= 20_000) },
      { weight: 1, arbitrary: fc.constantFrom('', ' ', '\r', '\t') },
      // Just under, at and over the longest line, and a valid event hidden at the end of one too long.
      { weight: 1, arbitrary: fc.constantFrom(MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 3 * MAX_LINE).map((size) => `${' '.repeat(size - 60)}{"v":1,"role":"web","env":"production","id":"d-tail0001"}`) },
    );
    const streams = fc.record({ lines: fc.array(line, { minLength: 1, maxLength: 40 }), cuts: fc.array(fc.nat(), { maxLength: 30 }) });
    const dir = await mkdtemp(join(tmpdir(), 'gvfuzz-pipe-'));
    const received: ForwardedEvent[] = [];
    const inbox = new EventInbox(join(dir, 'events.pipe'), (event) => received.push(event), logger);
    inbox.listen();
    const writer = await open(join(dir, 'events.pipe'), 'w');
    const tally = new Tally();
    try {
      for (const { lines, cuts } of draw(streams, seed, STREAMS)) {
        received.length = 0;
        const stream = Buffer.from(lines.map((text) => `${text}\n`).join(''));
        // Cut points in bytes: a multi-byte character may be split between two writes, as a pipe may deliver it.
        const points = [...new Set(cuts.map((cut) => cut % stream.length))].sort((a, b) => a - b);
        for (const [i, start] of [0, ...points].entries()) await writer.write(stream.subarray(start, points[i] ?? stream.length));
        const want = lines.map((text) => text.trim()).filter((text, i) => text !== '' && Buffer.byteLength(lines[i]!) <= MAX_LINE);
        // The stream's last line is a short marker, so everything before it has been read once it arrives.
        await writer.write('{"end":true}\n');
        await until('the stream to be read up to its end marker', () => (received.at(-1)?.payload === '{"end":true}' ? true : undefined), { timeoutMs: 10_000, intervalMs: 5 });
        const got = received.slice(0, -1).map((event) => event.payload);
        tally.add('streams');
        tally.add('lines written', lines.length);
        tally.add('events handed over', got.length);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          tally.violation('streams handed over wrongly', `lines ${JSON.stringify(lines.map((text) => (text.length > 80 ? `${text.slice(0, 40)}…(${text.length})…${text.slice(-40)}` : text)))} cut at ${JSON.stringify(points)}: got ${got.length} events, expected ${want.length}`);
        }
      }
    } finally {
      await writer.close();
      inbox.close();
      await rm(dir, { recursive: true, force: true });
    }
    tally.print(`event pipe framing fuzz, seed ${seed}:`, ['streams', 'lines written', 'events handed over', 'streams handed over wrongly']);
    expect(tally.describe()).toBe('');
  });
});
