// The order test files start in. The e2e and faults files run CLUSTERS_AT_ONCE at a time
// (vitest.config.ts; two now), each a cluster of its own for minutes; with more than one, a
// long file started last keeps one worker busy while the others idle, so the longest start
// first. Vitest orders by its cache of past durations,
// which a fresh clone (CI) does not have: it falls back to the files' sizes, and the longest
// files of these projects are among the smallest (each part lives in a folder of its own).
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each file took in a CI run (2026-12-03, one file at a time): an order, never a
 * limit; a file not listed takes the middle. Update it when a file's time changes much.
 */
const SECONDS: Record<string, number> = {
  'test/e2e/safety.test.ts': 389,
  'test/faults/faults.test.ts': 181,
  'test/e2e/insight.test.ts': 177,
  'test/e2e/strategies.test.ts': 157,
  'test/faults/host-faults.test.ts': 156,
  'test/e2e/hooks-and-job.test.ts': 149,
  'test/e2e/security.test.ts': 82,
  'test/e2e/two-coordinators.test.ts': 64,
  'test/e2e/chaos.test.ts': 49,
  'test/e2e/zones.test.ts': 45,
  'test/e2e/release.test.ts': 44,
  'test/e2e/rollout.test.ts': 40,
  'test/e2e/redis-sentinel.test.ts': 34,
  'test/e2e/redis-cluster.test.ts': 19,
};
const UNLISTED_SECONDS = 60;
/** Projects whose files run side by side, so their order matters. */
const SIDE_BY_SIDE = new Set(['e2e', 'faults']);

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const position = new Map(sorted.map((spec, index) => [spec, index]));
    const seconds = (spec: TestSpecification): number => {
      return SECONDS[relative(spec.project.config.root, spec.moduleId)] ?? UNLISTED_SECONDS;
    };
    return [...sorted].sort((a, b) => {
      const group = a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder;
      if (group !== 0) return group;
      const sideBySide = SIDE_BY_SIDE.has(a.project.name) && SIDE_BY_SIDE.has(b.project.name);
      return (sideBySide ? seconds(b) - seconds(a) : 0) || position.get(a)! - position.get(b)!;
    });
  }
}
