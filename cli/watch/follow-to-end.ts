// What `deploy --wait`, `rollback --wait` and `status ID --wait` print while they follow a
// deploy and once it ended: NDJSON with --json; else a live table on a terminal or plain
// lines in time order elsewhere (pipes, CI logs), then where the time went and the outcome.
import type { Deploy } from '../../shared/contract/schemas.js';
import { PlainProgress, followDeploy, summarize, type ProgressView } from '../deploy-watch.js';
import { criticalPathLines } from './critical-path-lines.js';
import type { DeployFeed } from './deploy-feed.js';
import { LiveTable } from './live-table.js';
import { NdjsonProgress } from './ndjson-progress.js';

export interface FollowOutput {
  stdout: NodeJS.WriteStream;
  json: boolean;
  /** Whether stdout is a terminal that can move its cursor (a TTY, TERM not `dumb`). */
  terminal: boolean;
  /** Colour on the terminal; off when NO_COLOR is set. */
  color: boolean;
}

/** Follows deploy `id` to its end, shown as `out` suits; returns the ended record. */
export async function followToEnd(feed: DeployFeed, id: string, out: FollowOutput, timeoutMs: number): Promise<Deploy> {
  const write = (line: string) => out.stdout.write(`${line}\n`);
  const final = await followDeploy(feed, id, viewFor(out, write), timeoutMs);
  if (!out.json) for (const line of [...criticalPathLines(final), summarize(final)]) write(line);
  return final;
}

function viewFor(out: FollowOutput, write: (line: string) => void): ProgressView {
  if (out.json) return new NdjsonProgress(write);
  if (out.terminal) return new LiveTable(out.stdout, { color: out.color });
  return new PlainProgress(write);
}
