// Figures that used to be timing assertions in tests: a test asserts what is correct, the
// benchmark measures how fast. Each figure here is measured once per run, after the run's
// own rollouts, on the same cluster, and printed in its own section of the table (with its
// target, if it has one). Add a figure to FIGURES_FROM_TESTS; nothing else needs to change.
import type { DevCluster } from '../dev-cluster/dev-cluster.js';
import type { SizeResult } from './cluster-bench.js';

export interface FigureContext {
  cluster: DevCluster;
  /** Environment for running the `grapevine` CLI against the cluster. */
  cliEnv: Record<string, string>;
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface FigureTarget {
  text: string;
  /** Whether the median meets the target at this size; undefined where it does not apply. */
  met(median: number, size: SizeResult): boolean | undefined;
}

export interface FigureFromTest {
  /** The row's label in the table, and the key in the JSON output; unique. */
  label: string;
  unit: string;
  digits?: number;
  target?: FigureTarget;
  /** The test the figure came from, for whoever reads the JSON. */
  from: string;
  /** Measures the figure once; must leave the cluster as it found it: every host serving the tag it served before. */
  measure(context: FigureContext): Promise<number>;
}

export const FIGURES_FROM_TESTS: readonly FigureFromTest[] = [];
