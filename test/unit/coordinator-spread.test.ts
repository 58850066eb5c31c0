// Agents given several coordinators share them: each asks first the one its host name picks
// (README, "Two coordinators"), fails over to the others when it is unreachable, and the CLI
// (no name) asks the first.
import { describe, expect, it } from 'vitest';
import { CoordinatorEndpoints, spreadIndex } from '../../shared/coordinator-http/coordinator-transport.js';

const URLS = ['http://a:7700', 'http://b:7700'];

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
}

function shares(names: string[], count: number): number[] {
  const counts: number[] = Array.from({ length: count }, () => 0);
  for (const name of names) counts[spreadIndex(name, count)]! += 1;
  return counts;
}

describe('which coordinator a host asks first', () => {
  it("spreads a fleet's names evenly, whatever they look like", () => {
    const numbered = Array.from({ length: 1_000 }, (_, i) => `sim-${String(i + 1).padStart(5, '0')}`);
    for (const count of shares(numbered, 2)) expect(count).toBeGreaterThanOrEqual(450);
    for (const count of shares(numbered, 3)) expect(count).toBeGreaterThanOrEqual(290);
    const racks = Array.from({ length: 600 }, (_, i) => `web-${['a', 'b', 'c'][i % 3]}${Math.floor(i / 3)}.example.internal`);
    for (const count of shares(racks, 2)) expect(count).toBeGreaterThanOrEqual(270);
    // Six hosts of a small cluster use both.
    expect(new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((name) => spreadIndex(name, 2))).size).toBe(2);
  });

  it('is the same for a name every time, and 0 with one coordinator', () => {
    expect(spreadIndex('web-17', 2)).toBe(spreadIndex('web-17', 2));
    expect(spreadIndex('web-17', 1)).toBe(0);
  });

  it("goes to the name's coordinator first, to the other when it is unreachable, and stays there", async () => {
    const name = ['h1', 'h2', 'h3', 'h4'].find((candidate) => spreadIndex(candidate, 2) === 1)!;
    const endpoints = new CoordinatorEndpoints(URLS, name);
    expect(endpoints.current).toBe(URLS[1]);
    const tried: string[] = [];
    const answer = await endpoints.send(async (url) => {
      tried.push(url);
      if (url === URLS[1]) throw refused();
      return `answered by ${url}`;
    }, 10_000);
    expect(answer).toBe(`answered by ${URLS[0]}`);
    expect(tried).toEqual([URLS[1], URLS[0]]);
    expect(endpoints.current).toBe(URLS[0]);
  });

  it('without a name (the CLI) asks the first URL first', () => {
    expect(new CoordinatorEndpoints(URLS).current).toBe(URLS[0]);
  });
});
