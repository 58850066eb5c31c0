// What every fuzz test shares: its seed (random unless GV_FUZZ_SEED replays one) and the
// counts it prints, so a failing run names what to replay and a passing one what it sent.
import fc from 'fast-check';

/** The run's seed: GV_FUZZ_SEED when set (to replay a run), else a fresh one, printed either way. */
export function fuzzSeed(what: string): number {
  const given = process.env.GV_FUZZ_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed)) throw new Error(`GV_FUZZ_SEED must be an integer, not ${JSON.stringify(given)}`);
    console.info(`${what}: seed ${seed} (from GV_FUZZ_SEED)`);
    return seed;
  }
  const seed = Math.floor(Math.random() * 2 ** 31);
  console.info(`${what}: seed ${seed} (replay with GV_FUZZ_SEED=${seed})`);
  return seed;
}

/** `count` values of `arbitrary`, drawn in batches so huge ones are not all held at once; the same seed gives the same values. */
export function* draw<T>(arbitrary: fc.Arbitrary<T>, seed: number, count: number, batch = 500): Generator<T> {
  for (let start = 0; start < count; start += batch) {
    yield* fc.sample(arbitrary, { seed: seed + start, numRuns: Math.min(batch, count - start) });
  }
}

/** Counters printed as one block; a violation keeps its first few examples for the failure message. */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly examples = new Map<string, string[]>();

  add(name: string, by = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }

  /** Counts a violation under `name` and keeps up to five descriptions of it. */
  violation(name: string, example: string): void {
    this.add(name);
    const kept = this.examples.get(name) ?? [];
    if (kept.length < 5) kept.push(example.length > 600 ? `${example.slice(0, 600)}…` : example);
    this.examples.set(name, kept);
  }

  print(title: string, names: readonly string[]): void {
    const width = Math.max(...names.map((name) => name.length));
    console.info([title, ...names.map((name) => `  ${name.padEnd(width)}  ${this.get(name)}`)].join('\n'));
  }

  /** The kept examples of every violation, for an assertion message. */
  describe(): string {
    return [...this.examples].map(([name, kept]) => `${name}:\n    ${kept.join('\n    ')}`).join('\n');
  }
}
