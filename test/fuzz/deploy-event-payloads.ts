// fast-check generators of deploy event payloads (valid, near-valid, hostile, random bytes,
// huge, deep) and the test's own reading of what a valid one is, written from the contract
// (README, "How a deploy flows") rather than from the parser it checks.
import fc from 'fast-check';

export interface ValidEvent {
  v: 1;
  role: string;
  env: string;
  id: string;
}

const NAME = /^[a-z][a-z0-9-]{0,31}$/;
const DEPLOY_ID = /^d-[a-z0-9]{6,40}$/;

/** The event a payload carries if it is a valid one: a JSON object with v 1 and a role, an environment and a deploy id of the allowed shapes. */
export function validEventIn(payload: string): ValidEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { v, role, env, id } = value as Record<string, unknown>;
  if (v !== 1 || typeof role !== 'string' || typeof env !== 'string' || typeof id !== 'string') return undefined;
  if (!NAME.test(role) || !NAME.test(env) || !DEPLOY_ID.test(id)) return undefined;
  return { v: 1, role, env, id };
}

export const ROLES = ['web', 'api', 'worker'] as const;
export const ENVS = ['production', 'staging'] as const;

const nameFrom = (usual: readonly string[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...usual) }, { weight: 1, arbitrary: fc.stringMatching(NAME) });
const id = fc.stringMatching(DEPLOY_ID);

/** What a shell, a path or a terminal would read as something other than a name. */
const hostile = fc.constantFrom(
  'web;rm -rf /', '$(reboot)', '`id`', 'web|nc 10.0.0.1 4444', "web' OR '1'='1", 'web && curl x', '../../etc/passwd', 'web\u0000', 'web\r', '\u001b[31mweb',
  'wéb', 'ωεβ', 'web\u200b', 'ｗｅｂ', '🍇', 'Web', '-web', 'web_1', '', ' web', 'a'.repeat(33), 'production\nstaging',
);

/** A field as near-valid payloads mutate it: another type, another version, hostile or unicode text. */
const wrongValue = fc.oneof(hostile, fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(0, 2, -1, 1.5, '1', 'v1', null, true, [1], { v: 1 }, 1e309), fc.string({ unit: 'binary', maxLength: 40 }));

const validEvent = fc.record({ v: fc.constant(1 as const), role: nameFrom(ROLES), env: nameFrom(ENVS), id });

/** A valid event as JSON, sometimes indented or padded, sometimes with fields a newer coordinator might add. */
const validPayload = fc
  .tuple(validEvent, fc.option(fc.dictionary(fc.constantFrom('tag', 'image', 'x', 'note'), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })), fc.constantFrom(undefined, 0, 2, '\t'), fc.constantFrom('', ' ', '\t', '\r'))
  .map(([event, extra, indent, pad]) => `${pad}${JSON.stringify({ ...extra, ...event }, null, indent)}${pad}`);

/** A valid event with one field changed, dropped or doubled, or the object wrapped or turned into an array. */
const nearValidPayload = fc.tuple(validEvent, fc.constantFrom('v', 'role', 'env', 'id'), wrongValue, fc.nat(5)).map(([event, field, value, how]) => {
  const changed: Record<string, unknown> = { ...event };
  if (how === 0) delete changed[field];
  else if (how === 1) return JSON.stringify([event]);
  else if (how === 2) return JSON.stringify({ event });
  // A duplicated key: JSON.parse keeps the last one, which is the wrong value.
  else if (how === 3) return `${JSON.stringify(event).slice(0, -1)},${JSON.stringify(field)}:${JSON.stringify(value ?? null)}}`;
  else changed[field] = value;
  return JSON.stringify(changed);
});

const randomBytes = fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes).toString(bytes.length % 2 === 0 ? 'utf8' : 'latin1'));

const huge = fc.tuple(validEvent, fc.integer({ min: 5_000, max: 300_000 })).map(([event, size]) => JSON.stringify({ ...event, pad: 'x'.repeat(size) }));
const deep = fc.integer({ min: 100, max: 50_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`);
const truncated = validPayload.chain((text) => fc.nat(Math.max(0, text.length - 1)).map((cut) => text.slice(0, cut)));

/** Payloads of every kind, about a third of them valid. */
export const anyPayload = fc.oneof(
  { weight: 10, arbitrary: validPayload },
  { weight: 10, arbitrary: nearValidPayload },
  { weight: 3, arbitrary: truncated },
  { weight: 3, arbitrary: randomBytes },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\n', 'null', '{}', '[]', '1', '"deploy"', 'undefined', '{"__proto__":{"v":1}}', '{"v":1,"role":"web","env":"production","id":"d-abcdef","constructor":{"prototype":{}}}') },
);

/**
 * Payloads a `serf event` can carry: within Serf's 512-byte limit with the event's name,
 * no NUL (an argument cannot hold one) and, but for a few, no newline (the hand-off pipe
 * is read a line at a time, so a payload with one arrives as several events).
 */
export const serfPayload = fc
  .tuple(fc.oneof({ weight: 2, arbitrary: validPayload }, { weight: 2, arbitrary: nearValidPayload }, { weight: 1, arbitrary: truncated }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) }), fc.nat(30))
  .map(([payload, roll]) => {
    const clean = payload.replace(/\0/g, '');
    return roll === 0 ? clean : clean.replace(/[\r\n]/g, ' ');
  })
  .filter((payload) => payload.trim() !== '' && Buffer.byteLength(payload) <= 400);
