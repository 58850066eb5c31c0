// `grapevine freeze --until`: an ISO 8601 time with its zone or a duration from now, in the
// future and at most 7 days ahead; anything else is refused naming what it expected.
import { describe, expect, it } from 'vitest';
import { freezeLine, parseUntil } from '../../cli/freeze-commands.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('freeze --until', () => {
  it('reads a duration from now and an ISO 8601 time with its zone', () => {
    expect(parseUntil('30m', NOW)).toBe(NOW + 30 * 60_000);
    expect(parseUntil(' 2h ', NOW)).toBe(NOW + 2 * 3_600_000);
    expect(parseUntil('7d', NOW)).toBe(NOW + 7 * 86_400_000);
    expect(parseUntil('2026-12-02T18:00Z', NOW)).toBe(Date.parse('2026-12-02T18:00:00Z'));
    expect(parseUntil('2026-12-02T18:00:00.5+01:00', NOW)).toBe(Date.parse('2026-12-02T17:00:00.500Z'));
  });

  it.each(['tomorrow', '2026-12-02 18:00', '2026-12-02T18:00', '30', '1w', '-5m', ''])('refuses %j naming the two forms it takes', (text) => {
    expect(() => parseUntil(text, NOW)).toThrow(/^--until must be an ISO 8601 time with its zone \(e\.g\. 2026-12-02T18:00Z\) or a duration from now/);
  });

  it('refuses a time past or more than 7 days ahead', () => {
    expect(() => parseUntil('2026-12-02T11:00Z', NOW)).toThrow('--until must be in the future; got 2026-12-02T11:00:00.000Z');
    expect(() => parseUntil('8d', NOW)).toThrow('--until must be at most 7 days ahead; got 2026-12-10T12:00:00.000Z');
  });

  it('prints a freeze as status shows it', () => {
    expect(freezeLine({ reason: 'release train', by: 'operator ops', at: NOW, until: NOW + 3_600_000 })).toBe('FROZEN "release train" (by operator ops, until 2026-12-02T13:00:00.000Z)');
    expect(freezeLine({ reason: 'incident', by: 'operator ops', at: NOW })).toBe('FROZEN "incident" (by operator ops, until unfrozen)');
  });
});
