// Fuzzes how an agent reads a deploy event: 10 000 generated payloads through the parser
// (agent/deploy/deploy-event.ts), and generated Serf stream records through the agent's
// intake of them (shared/serf/serf-event-stream.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideDeployEvent, type EventDecision } from '../../agent/deploy/deploy-event.js';
import { forwardedEvent } from '../../shared/serf/serf-event-stream.js';
import { anyPayload, ENVS, ROLES, validEventIn } from './deploy-event-payloads.js';
import { draw, fuzzSeed, Tally } from './fuzz-run.js';

const PAYLOADS = 10_000;
const RECORDS = 5_000;

function isUtf8(bytes: unknown): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes as Uint8Array);
    return true;
  } catch {
    return false;
  }
}

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

  it(`takes ${RECORDS} generated stream records without throwing: a deploy or retire of UTF-8 text up to Serf's limit is handed over intact, anything else is refused`, { timeout: 60_000 }, () => {
    const seed = fuzzSeed('event stream record fuzz');
    const bytes = fc.oneof(
      { weight: 6, arbitrary: anyPayload.map((payload) => new Uint8Array(Buffer.from(payload))) },
      // Not UTF-8, or past Serf's 512 bytes: never an event of ours.
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 600 }) },
      { weight: 1, arbitrary: fc.constantFrom(511, 512, 513, 4096).map((size) => new Uint8Array(Buffer.from(' '.repeat(size - 58) + '{"v":1,"role":"web","env":"production","id":"d-tail0001"}'))) },
    );
    const record = fc.record({
      Event: fc.oneof({ weight: 9, arbitrary: fc.constant('user') }, { weight: 1, arbitrary: fc.constantFrom('member-join', 'query', '', 7) }),
      Name: fc.oneof({ weight: 9, arbitrary: fc.constantFrom('deploy', 'retire') }, { weight: 1, arbitrary: fc.constantFrom('Deploy', 'deploy ', 'rollback', '', null) }),
      Payload: fc.oneof({ weight: 19, arbitrary: bytes }, { weight: 1, arbitrary: fc.constantFrom(undefined, 'text', 3) }),
      LTime: fc.nat(),
    });
    const tally = new Tally();
    for (const drawn of draw(record, seed, RECORDS)) {
      const taken = forwardedEvent(drawn as Record<string, unknown>);
      const { Event, Name, Payload } = drawn;
      const text = Payload instanceof Uint8Array && isUtf8(Payload) ? Buffer.from(Payload).toString('utf8') : undefined;
      tally.add('records');
      const ours = Event === 'user' && (Name === 'deploy' || Name === 'retire') && Payload instanceof Uint8Array && Payload.byteLength <= 512;
      if ('ignored' in taken) {
        tally.add('refused');
        if (ours && isUtf8(Payload)) tally.violation('events of ours refused', `${String(Name)} ${JSON.stringify(text)}: ${taken.ignored}`);
      } else {
        tally.add('handed over');
        if (!ours || !isUtf8(Payload)) tally.violation('records handed over that are not ours', JSON.stringify({ Event, Name }));
        else if (taken.event !== Name || taken.payload !== text!.trim()) tally.violation('events changed on the way', `${JSON.stringify(text)} became ${JSON.stringify(taken.payload)}`);
      }
    }
    tally.print(`event stream record fuzz, seed ${seed}:`, ['records', 'handed over', 'refused', 'events of ours refused', 'records handed over that are not ours', 'events changed on the way']);
    expect(tally.describe()).toBe('');
    expect(tally.get('handed over')).toBeGreaterThan(0);
    expect(tally.get('refused')).toBeGreaterThan(0);
  });
});
