// Where the coordinator keeps feature flags (README, "Feature flags"): one set of flags per
// environment, with a version that moves with every change to any of them (the OFREP bulk
// answer's ETag). The Redis implementation is shared/redis/flag-store.ts.
import type { Flag } from '../contract/flags.js';

/** One environment's flags and their version, read together. */
export interface EnvFlags {
  flags: Flag[];
  /** 0 before the environment's first flag; one more with each change. */
  version: number;
}

/**
 * What a change decides from the flag as it is (undefined: none by that name): the flag to
 * store, `null` to delete it, or `unchanged`. It may throw to refuse; nothing is stored then.
 */
export type FlagDecision = (current: Flag | undefined) => Flag | null | 'unchanged';

export interface FlagChange {
  before: Flag | undefined;
  /** The flag stored by the change; undefined when deleted, or `before` when unchanged. */
  after: Flag | undefined;
  changed: boolean;
  /** The environment's version after the change. */
  version: number;
}

export interface FlagStore {
  get(env: string, name: string): Promise<Flag | undefined>;
  /** Every flag of `env`, by name, with the version they are at. */
  list(env: string): Promise<EnvFlags>;
  /** The environments that ever had a flag. */
  envs(): Promise<string[]>;
  /**
   * Applies `decide` to the flag as stored, atomically: when another change landed between
   * the read and the write, it reads again and decides again (a few times, then a conflict).
   */
  change(env: string, name: string, decide: FlagDecision): Promise<FlagChange>;
}
