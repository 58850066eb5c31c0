// The flag rules, pure: who gets which variant and why, the percentage's buckets (stable as
// it rises), the context OFREP sends, and a set's settings laid over a flag, with the errors
// that name the field.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applySettings, killFlag } from '../../coordinator/flags/flag-changes.js';
import { BUCKETS, bucketOf, evaluateFlag, inRollout, readContext } from '../../coordinator/flags/flag-evaluation.js';
import { FlagSettings, describeFlag, flagName, type Flag } from '../../shared/contract/flags.js';
import { describeIssues } from '../../shared/contract/schemas.js';

const by = { env: 'production', name: 'new-checkout', by: 'deployer ci (t-1)', at: 1_000 };
const flagWith = (settings: FlagSettings): Flag => applySettings(undefined, FlagSettings.parse(settings), by);
const keyed = (targetingKey: string, segments: string[] = []) => ({ targetingKey, segments });

describe('evaluating a flag', () => {
  it('gives the on variant to everyone when it has no targeting (STATIC), the off variant when disabled or killed (DISABLED)', () => {
    expect(evaluateFlag(flagWith({}), { segments: [] })).toEqual({ ok: true, variant: 'on', value: true, reason: 'STATIC' });
    expect(evaluateFlag(flagWith({ enabled: false }), keyed('alice'))).toEqual({ ok: true, variant: 'off', value: false, reason: 'DISABLED' });
    const killed = killFlag(flagWith({ users: ['alice'] }), { reason: 'errors' }, by)!;
    expect(evaluateFlag(killed, keyed('alice'))).toMatchObject({ variant: 'off', reason: 'DISABLED' });
  });

  it('gives listed users and matching segments the on variant (TARGETING_MATCH), others the off variant (DEFAULT)', () => {
    const flag = flagWith({ users: ['alice', 'bob'], segments: ['beta'] });
    expect(evaluateFlag(flag, keyed('alice'))).toMatchObject({ variant: 'on', reason: 'TARGETING_MATCH' });
    expect(evaluateFlag(flag, keyed('carol', ['beta']))).toMatchObject({ variant: 'on', reason: 'TARGETING_MATCH' });
    expect(evaluateFlag(flag, keyed('carol'))).toMatchObject({ variant: 'off', value: false, reason: 'DEFAULT' });
    expect(evaluateFlag(flag, { segments: [] })).toMatchObject({ variant: 'off', reason: 'DEFAULT' });
  });

  it('splits by percentage (SPLIT), and asks for a targeting key when there is none', () => {
    const flag = flagWith({ percent: 30 });
    const answers = Array.from({ length: 2000 }, (_, i) => evaluateFlag(flag, keyed(`user-${i}`)));
    expect(answers.every((a) => a.ok && a.reason === 'SPLIT')).toBe(true);
    const share = answers.filter((a) => a.ok && a.variant === 'on').length / answers.length;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
    expect(evaluateFlag(flag, { segments: [] })).toMatchObject({ ok: false, errorCode: 'TARGETING_KEY_MISSING' });
  });

  it('serves string and number variants', () => {
    const flag = flagWith({ variants: { red: 'red', blue: 'blue' }, onVariant: 'blue', offVariant: 'red' });
    expect(evaluateFlag(flag, { segments: [] })).toEqual({ ok: true, variant: 'blue', value: 'blue', reason: 'STATIC' });
    const limit = flagWith({ variants: { low: 10, high: 100 }, onVariant: 'high', offVariant: 'low', users: ['vip'] });
    expect(evaluateFlag(limit, keyed('someone'))).toMatchObject({ value: 10 });
  });
});

describe('the percentage buckets', () => {
  it('are stable: the same flag and key always land in the same bucket, of 10 000', () => {
    expect(bucketOf('new-checkout', 'alice')).toBe(bucketOf('new-checkout', 'alice'));
    // Pinned (sha256 of "new-checkout", NUL, "alice", first 4 bytes mod 10 000, worked out apart): a change of hashing would move every user between variants.
    expect(bucketOf('new-checkout', 'alice')).toBe(4082);
    expect(bucketOf('other-flag', 'alice')).not.toBe(bucketOf('new-checkout', 'alice'));
  });

  it('only add keys as the percentage rises: a key in at p is in at every q >= p', () => {
    const percent = fc.integer({ min: 0, max: 10_000 }).map((n) => n / 100);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('f', 'new-checkout', 'beta.search'), percent, percent, (key, name, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        if (inRollout(name, key, low)) expect(inRollout(name, key, high)).toBe(true);
        expect(inRollout(name, key, 100)).toBe(true);
        expect(inRollout(name, key, 0)).toBe(false);
        expect(bucketOf(name, key)).toBeLessThan(BUCKETS);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('reading the OFREP context', () => {
  it('takes targetingKey and segment or segments, and refuses them in the wrong shape', () => {
    expect(readContext({ targetingKey: 'alice', segment: 'beta', segments: ['staff'], plan: 'pro' })).toEqual({ ok: true, context: { targetingKey: 'alice', segments: ['beta', 'staff'] } });
    expect(readContext(undefined)).toEqual({ ok: true, context: { segments: [] } });
    expect(readContext({ targetingKey: 42 })).toEqual({ ok: false, errorDetails: 'context.targetingKey must be a non-empty string' });
    expect(readContext({ segments: 'beta' })).toEqual({ ok: false, errorDetails: 'context.segments must be an array of strings' });
    expect(readContext([1])).toEqual({ ok: false, errorDetails: 'context must be an object' });
  });
});

describe('setting a flag', () => {
  it('starts a new flag on for everyone with on/off variants, version 1, and keeps what a later set leaves out', () => {
    const created = flagWith({ percent: 10 });
    expect(created).toMatchObject({ enabled: true, variants: { on: true, off: false }, onVariant: 'on', offVariant: 'off', users: [], percent: 10, version: 1, updatedBy: by.by });
    const raised = applySettings(created, { percent: 20, users: ['alice', 'alice'] }, { ...by, at: 2_000 });
    expect(raised).toMatchObject({ percent: 20, users: ['alice'], version: 2, updatedAt: 2_000 });
    expect(applySettings(raised, { percent: null }, by).percent).toBeUndefined();
    expect(describeFlag(raised)).toBe('on (true) for 1 user and 20 % of keys; others off (false)');
  });

  it('keeps the kill switch on through a set unless the set says enabled: true', () => {
    const killed = killFlag(flagWith({}), {}, by)!;
    expect(killFlag(killed, { reason: 'again' }, by)).toBeUndefined();
    expect(applySettings(killed, { percent: 50 }, by).killed).toEqual({ by: by.by, at: by.at });
    expect(applySettings(killed, { enabled: true }, by).killed).toBeUndefined();
  });

  it('refuses on/off variants that name no variant, naming the field', () => {
    expect(() => applySettings(undefined, { variants: { red: 'red', blue: 'blue' } }, by)).toThrow(
      'invalid body: onVariant must name one of the variants (red, blue); got on (kept from before: give --serve-on with new variants)',
    );
    expect(() => applySettings(undefined, { variants: { a: 1, b: 2 }, onVariant: 'a', offVariant: 'c' }, by)).toThrow('offVariant must name one of the variants (a, b); got c');
  });

  it('validates the body with errors naming each field', () => {
    const problems = (body: unknown) => {
      const result = FlagSettings.safeParse(body);
      return result.success ? 'valid' : describeIssues(result.error);
    };
    expect(problems({ percent: 150 })).toBe('percent must be from 0 to 100');
    expect(problems({ percent: -1 })).toBe('percent must be from 0 to 100');
    expect(problems({ percent: 12.345 })).toBe('percent must have at most two decimals (0.01 steps)');
    expect(problems({ percent: 0.01 })).toBe('valid');
    expect(problems({ variants: { a: 'x', b: 1 } })).toBe('variants must all be of one type: strings, numbers or booleans');
    expect(problems({ variants: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`v${i}`, i])) })).toBe('variants must be at most 10');
    expect(problems({ users: Array.from({ length: 1001 }, (_, i) => `u${i}`) })).toBe('users must list at most 1000 targeting keys');
    expect(problems({ colour: 'red' })).toMatch(/colour/);
    expect(flagName.safeParse('Bad Name').success).toBe(false);
    expect(flagName.safeParse('new-checkout.v2_b').success).toBe(true);
  });
});
