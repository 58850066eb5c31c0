// A host that missed its group's rollout (it was down, cut off, or joined late) catches up
// through the same slot-limited path as every deploy: a deploy in progress that names it
// but that it never ran (its event was missed) is run as if the event had arrived; a host
// left running something other than the release of the group's newest rollout, once that
// rollout ended succeeded or partial, asks the coordinator for a catch-up and runs it.
import { ConflictError, errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { FINAL_HOST_STATES, type CatchUpBody, type Deploy, type HostReport } from '../shared/contract/schemas.js';
import { rolloutApplies } from '../shared/contract/routing.js';
import type { HostDeployView } from '../shared/contract/deploy-views.js';

export interface CatchUpSource {
  /** The catch-up deploy to run, or null when the host runs the release already (POST /v1/catch-ups). */
  requestCatchUp(body: CatchUpBody): Promise<Deploy | null>;
}

/** Runs this host's part of `deploy` through the agent's normal path; null when it did not run it (handled already, or unreadable). */
export type TakePart = (deploy: Pick<Deploy, 'id' | 'role' | 'env' | 'seq'>) => Promise<HostReport | null>;

export type CatchUpOutcome =
  /** Ran a deploy that names this host but whose event it never got. */
  | 'took_part'
  | 'caught_up'
  | 'catch_up_failed'
  /** The coordinator said no (the release is broken, its rollout did not succeed): not asked again until a new rollout. */
  | 'refused'
  | 'backing_off';

export interface CatchUpOptions {
  node: string;
  /** This host's cluster tag: rollouts to other clusters are not caught up to. */
  cluster?: string | undefined;
  coordinator: CatchUpSource;
  takePart: TakePart;
}

/** Ask again after the n-th failed catch-up in a row only after this many rounds: 1, 2, 4, 8, 8 ... */
const MAX_SKIPPED_ROUNDS = 8;
/** Failed catch-ups to one rollout before this host stops asking until a new rollout, or its restart. */
const MAX_TRIES = 6;

/** The newest deploy of the group that is not a catch-up and reaches a host of `cluster`: what the host should run once it ends well. */
export function newestRollout<D extends Pick<HostDeployView, 'catchUpOf' | 'cluster'>>(deploys: readonly D[], cluster?: string): D | undefined {
  return deploys.find((deploy) => deploy.catchUpOf === undefined && rolloutApplies(deploy, cluster));
}

/** Deploys in progress that name `node` as a target and have no final report from it, oldest first. */
export function missedDeploys(deploys: HostDeployView[], node: string): HostDeployView[] {
  return deploys
    .filter((deploy) => {
      // Each view is this host's own: whether the deploy names it, and its own report.
      const named = deploy.host === node && deploy.target && deploy.targetCount > 0;
      return deploy.status === 'in_progress' && named && !(deploy.mine && FINAL_HOST_STATES.has(deploy.mine.state));
    })
    .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0) || a.createdAt - b.createdAt);
}

/** Where one group's catch-up to one rollout stands on this host. */
interface Attempts {
  rollout: string;
  failures: number;
  skipRounds: number;
  refused: boolean;
  /** The image the coordinator last said is the one to run (after a blue/green switch back, not the rollout's): not asked again. */
  upToDate?: string | null;
}

export class CatchUp {
  private readonly attempts = new Map<string, Attempts>();

  constructor(private readonly options: CatchUpOptions) {}

  /**
   * One round for a group, given its deploys (newest first) and the image this host runs
   * (null: none). Undefined when there is nothing to catch up: the host runs the rollout's
   * release, or the newest rollout is under way without it, or ended failed or cancelled.
   */
  async converge(role: string, env: string, deploys: HostDeployView[], image: string | null, log: Logger): Promise<CatchUpOutcome | undefined> {
    const { node, coordinator, takePart, cluster } = this.options;
    let tookPart = false;
    for (const missed of missedDeploys(deploys, node)) {
      log.info({ deployId: missed.id, tag: missed.tag }, 'a deploy in progress names this host, which never ran it; taking part');
      if (await takePart(missed)) tookPart = true;
    }
    if (tookPart) return 'took_part';

    const key = `${role}/${env}`;
    const rollout = newestRollout(deploys, cluster);
    if (!rollout || (rollout.status !== 'succeeded' && rollout.status !== 'partial') || image === rollout.image) {
      this.attempts.delete(key);
      return undefined;
    }
    let attempts = this.attempts.get(key);
    if (attempts?.rollout !== rollout.id) {
      attempts = { rollout: rollout.id, failures: 0, skipRounds: 0, refused: false };
      this.attempts.set(key, attempts);
    }
    if (attempts.upToDate === image) return undefined;
    if (attempts.refused || attempts.failures >= MAX_TRIES) return 'backing_off';
    if (attempts.skipRounds > 0) {
      attempts.skipRounds -= 1;
      return 'backing_off';
    }

    const context = { rollout: rollout.id, tag: rollout.tag, image };
    try {
      const catchUp = await coordinator.requestCatchUp({ role, env, host: node, image, ...(cluster === undefined ? {} : { cluster }) });
      if (catchUp === null) {
        // Once per rollout and image: the group runs this host's release though the newest
        // rollout named another (a blue/green group switched back from it).
        attempts.upToDate = image;
        log.info(context, `up to date: the group runs what this host runs, not ${rollout.tag}; not asking again until the rollout or the image changes`);
        return undefined;
      }
      log.info({ ...context, deployId: catchUp.id }, `behind the group's release ${rollout.tag}; catching up`);
      const report = await takePart(catchUp);
      if (report?.state === 'succeeded') {
        this.attempts.delete(key);
        log.info({ ...context, deployId: catchUp.id }, `caught up to ${rollout.tag}`);
        return 'caught_up';
      }
      return this.failed(attempts, log, { ...context, deployId: catchUp.id, state: report?.state ?? 'not run', err: report?.error });
    } catch (error) {
      if (error instanceof ConflictError && error.code === 'rollout_in_progress') return undefined;
      if (error instanceof ConflictError) {
        attempts.refused = true;
        log.warn({ ...context, code: error.code, err: error.message }, 'catch-up refused; not asking again until the group has a new rollout');
        return 'refused';
      }
      return this.failed(attempts, log, { ...context, err: errorMessage(error) });
    }
  }

  private failed(attempts: Attempts, log: Logger, fields: Record<string, unknown>): CatchUpOutcome {
    attempts.failures += 1;
    attempts.skipRounds = Math.min(MAX_SKIPPED_ROUNDS, 2 ** (attempts.failures - 1));
    if (attempts.failures >= MAX_TRIES) {
      log.error({ ...fields, tries: attempts.failures }, 'catch-up failed again; not asking again until the group has a new rollout or this agent restarts');
    } else {
      log.warn({ ...fields, tries: attempts.failures, skipRounds: attempts.skipRounds }, 'catch-up did not succeed; trying again after a few rounds');
    }
    return 'catch_up_failed';
  }
}
