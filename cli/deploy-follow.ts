// `--wait` on deploy, rollback and status: follows the deploy to its end, then names the
// promotion it started, if any. Loaded only when a command waits.
import { errorMessage } from '../shared/contract/errors.js';
import type { Deploy } from '../shared/contract/schemas.js';
import type { CliContext } from './cli-context.js';
import { EventStreamClient } from './watch/event-stream.js';
import { followToEnd } from './watch/follow-to-end.js';
import { StreamedDeployFeed } from './watch/streamed-deploy-feed.js';

const WATCH_TIMEOUT_MS = 60 * 60_000;

/** Follows `deploy` to its end; the exit code says whether it succeeded. */
export async function followDeployToEnd(context: CliContext, deploy: Pick<Deploy, 'id'>): Promise<void> {
  const json = context.json();
  const { dumb, noColor } = context.terminal;
  const out = { stdout: process.stdout, json, terminal: process.stdout.isTTY === true && !dumb, color: !noColor };
  // The summary once, then the deploy's events: never the whole record per tick (README, "Live CLI progress").
  const feed = new StreamedDeployFeed(context.client(), new EventStreamClient(context.connection()));
  const final = await followToEnd(feed, deploy.id, out, WATCH_TIMEOUT_MS);
  if (final.promotedTo && !json) process.stdout.write(`${await promotionLine(context, final.tag, final.promotedTo)}\n`);
  if (final.status !== 'succeeded') context.failed();
}

/** The promotion names its target environment as the coordinator recorded the deploy it started. */
async function promotionLine(context: CliContext, tag: string, promotedTo: string): Promise<string> {
  const follow = `follow it with: grapevine status ${promotedTo} --wait`;
  try {
    const promoted = await context.client().getSummary(promotedTo);
    return `promoted: ${tag} now deploys to ${promoted.env} as ${promotedTo}; ${follow}`;
  } catch (error) {
    return `promoted: ${tag} now deploys as ${promotedTo} (its environment could not be read: ${errorMessage(error)}); ${follow}`;
  }
}
