// The `retire` event on a host: which hosts act on it (their group, a role they run in colours),
// and what one does: the old colour's server to maintenance, then its containers stopped,
// unless the coordinator says that colour is live again (switched back).
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ColourRetirement, decideRetireEvent } from '../../agent/retire.js';
import type { RoleServers } from '../../agent/role-servers.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import type { Colour } from '../../shared/contract/strategy.js';

const logger = pino({ level: 'silent' });
const COLOURED: RoleServers = { backend: 'web-staging', colours: { blue: { address: '10.0.0.7:8080' }, green: { address: '10.0.0.7:8081' } } };
const payload = (over: Record<string, unknown> = {}) => JSON.stringify({ v: 1, role: 'web', env: 'staging', colour: 'blue', id: 'd-switch1', ...over });
const host = { env: 'staging', roles: ['web'] };

describe('retire event', () => {
  it('is acted on by a host of the group that runs the role in colours', () => {
    expect(decideRetireEvent(payload(), host, { web: COLOURED })).toMatchObject({ kind: 'retire', payload: { colour: 'blue', role: 'web' } });
  });

  it('is ignored by hosts of another environment or role, or running the role without colours', () => {
    expect(decideRetireEvent(payload({ env: 'production' }), host, { web: COLOURED }).kind).toBe('ignore');
    expect(decideRetireEvent(payload({ role: 'api' }), host, { web: COLOURED }).kind).toBe('ignore');
    expect(decideRetireEvent(payload(), host, { web: { backend: 'web-staging', address: '10.0.0.7:8080' } })).toEqual({ kind: 'ignore', reason: 'role web runs without colours here' });
  });

  it('refuses a payload that is not one, naming what is wrong', () => {
    expect(decideRetireEvent('not json', host, { web: COLOURED })).toEqual({ kind: 'invalid', reason: 'payload is not JSON' });
    const red = decideRetireEvent(payload({ colour: 'red' }), host, { web: COLOURED });
    expect(red.kind).toBe('invalid');
    expect(red.kind === 'invalid' && red.reason).toMatch(/colour/);
  });

  function retirement(live: Colour, failures: Error[] = []) {
    const calls: string[] = [];
    const retire = new ColourRetirement({
      node: 'h7',
      lb: { web: COLOURED },
      coordinator: {
        groupColour: async () => {
          calls.push('ask');
          const failure = failures.shift();
          if (failure) throw failure;
          return { live };
        },
      },
      runtime: { stop: async (_role, _context, colour) => void calls.push(`stop ${colour}`) },
      loadBalancer: { drain: async (backend, server) => void calls.push(`drain ${backend}/${server}`) },
      logger,
      retriesMs: [0, 0],
    });
    return { retire, calls };
  }

  const event = { v: 1 as const, role: 'web', env: 'staging', colour: 'blue' as const, id: 'd-switch1' };

  it('drains the old colour to maintenance, then stops its containers', async () => {
    const { retire, calls } = retirement('green');
    expect(await retire.retire(event, new AbortController().signal)).toBe('retired');
    expect(calls).toEqual(['ask', 'drain web-staging/h7.blue', 'stop blue']);
  });

  it('leaves the colour running when it is live again, asking the coordinator again through a short outage', async () => {
    const { retire, calls } = retirement('blue', [new UnreachableError('coordinator restarting')]);
    expect(await retire.retire(event, new AbortController().signal)).toBe('live');
    expect(calls).toEqual(['ask', 'ask']);
  });

  it('keeps the colour running when the coordinator cannot say which is live', async () => {
    const { retire, calls } = retirement('green', [1, 2, 3].map(() => new UnreachableError('coordinator down')));
    expect(await retire.retire(event, new AbortController().signal)).toBe('failed');
    expect(calls).toEqual(['ask', 'ask', 'ask']);
  });
});
