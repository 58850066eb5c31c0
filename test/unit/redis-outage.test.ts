// A waiting host's slot request through a Redis outage: asked again while Redis is away,
// up to the bound; anything but an unanswered request ends the wait at once.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { RedisOutage } from '../../shared/redis/redis-outage.js';
import { UnreachableError, ValidationError } from '../../shared/contract/errors.js';

const log = pino({ level: 'silent' });
const gone = () => new UnreachableError('acquire-slot-16.lua: Redis did not answer (Command timed out)');

describe('redis outage', () => {
  it('asks again through an outage up to a minute, then gives the error up', async () => {
    let clock = 0;
    const outage = new RedisOutage(() => clock);
    const signal = new AbortController().signal;
    expect(await outage.tolerate(gone(), signal, log)).toBeUndefined();
    clock = 59_000;
    expect(await outage.tolerate(gone(), signal, log)).toBeUndefined();
    clock = 61_000;
    await expect(outage.tolerate(gone(), signal, log)).rejects.toThrow('Redis did not answer');
  });

  it('starts counting again once Redis answered', async () => {
    let clock = 0;
    const outage = new RedisOutage(() => clock);
    const signal = new AbortController().signal;
    await outage.tolerate(gone(), signal, log);
    outage.over();
    clock = 120_000;
    expect(await outage.tolerate(gone(), signal, log)).toBeUndefined();
  });

  it('ends at once on a refusal, or when the host stands down', async () => {
    const outage = new RedisOutage();
    await expect(outage.tolerate(new ValidationError('slots must be positive'), new AbortController().signal, log)).rejects.toThrow('slots must be positive');
    const stop = new AbortController();
    stop.abort(new Error('deploy stopped'));
    await expect(outage.tolerate(gone(), stop.signal, log)).rejects.toThrow('Redis did not answer');
  });
});
