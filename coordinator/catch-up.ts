// A host left behind its group's last rollout (it was down, cut off, or joined late) asks
// to catch up: the coordinator records a deploy of that rollout's release with this one
// host as its only target and the rollout's k, and the host runs it through the same
// slot-limited path. No Serf event is fired (no other host takes part); a catch-up never
// promotes, and is never itself the rollout a later catch-up goes to. "No rollout in progress,
// so create a catch-up" runs under the group's lock, which every rollout's creation holds too
// (deploy-starter.ts), so no catch-up is ever created beside a rollout in progress, whichever
// coordinator each request reached.
import { ConflictError, GrapevineError, UnreachableError } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import type { CatchUpBody, Deploy, Release } from '../shared/contract/schemas.js';
import { slotCount } from '../shared/contract/slot-count.js';
import { aliveHostsOf } from '../shared/ports/membership.js';
import { newDeployRecord, type DeployCreationDeps } from './deploy-starter.js';
import type { Colour } from '../shared/contract/strategy.js';
import { switchedBackFrom } from '../shared/contract/strategy-state.js';
import { rolloutApplies } from '../shared/contract/routing.js';
import type { GroupLocks } from './leadership/group-lock.js';

/** How far back the group's history is read for its newest rollout and a catch-up under way. */
const HISTORY = 50;

export type CatchUpAnswer =
  /** The host runs the release already. */
  | { kind: 'up_to_date' }
  | { kind: 'created' | 'under_way'; deploy: Deploy };

/** Its membership counts the group's alive hosts for k when the rollout recorded no slots. */
export type CatchUpsDeps = DeployCreationDeps & {
  /** A blue/green group's live colour (undefined for a group in one colour): the colour a host catching up replaces. */
  liveColour?: (group: { role: string; env: string }) => Promise<Colour | undefined>;
  /** The group's lock, which rollouts' creation holds too. */
  locks: GroupLocks;
};

/** What the group's history says of a host's catch-up: an answer as it stands, or a catch-up to create. */
type Decision = CatchUpAnswer | { kind: 'create'; rollout: Deploy; release: Release };

/** A rollout is every deploy that is not a catch-up: CI's, a rollback, a promotion. */
export const isRollout = (deploy: Pick<Deploy, 'catchUpOf'>): boolean => deploy.catchUpOf === undefined;

export class CatchUps {
  readonly #deps: CatchUpsDeps;
  readonly #logger: Logger;

  async #colourOf(role: string, env: string): Promise<{ colour?: Colour }> {
    const colour = await this.#deps.liveColour?.({ role, env });
    return colour === undefined ? {} : { colour };
  }

  constructor(deps: CatchUpsDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'catch-up' });
  }

  /**
   * The catch-up `request.host` should run to reach its group's newest rollout's release:
   * one under way for it, or a new one. ConflictError when it must not catch up now:
   * nothing_to_catch_up, rollout_in_progress, release_broken, rollout_not_succeeded.
   */
  async request(request: CatchUpBody, startedBy?: string): Promise<CatchUpAnswer> {
    const { role, env } = request;
    // Read unlocked first: a host up to date, refused or with one under way never waits on the lock.
    const first = await this.#decide(request);
    if (first.kind !== 'create') return first;
    return this.#deps.locks.hold({ role, env }, 'catch-up', async (lockLost) => {
      const decision = await this.#decide(request);
      if (decision.kind !== 'create') return decision;
      lockLost.throwIfAborted();
      return this.#create(request, decision.rollout, decision.release, startedBy);
    });
  }

  /** ConflictError when the host must not catch up now; see request. */
  async #decide(request: CatchUpBody): Promise<Decision> {
    const { store } = this.#deps;
    const { role, env, host, image, cluster } = request;
    const deploys = await store.listDeploys({ role, env, limit: HISTORY });
    // A rollout of another cluster says nothing of what this host should run.
    const rollout = newestOf(deploys.filter((deploy) => isRollout(deploy) && rolloutApplies(deploy, cluster)));
    if (!rollout) {
      const of = cluster === undefined ? '' : ` to the whole group or to cluster ${cluster}`;
      throw new ConflictError('nothing_to_catch_up', `role ${role} has no deploy in ${env}${of} among its last ${HISTORY}; there is nothing to catch up to`);
    }
    if (rollout.status === 'in_progress') {
      const part = rollout.targets?.includes(host) ? `${host} is one of its targets and takes part in it` : `${host} catches up once it ends`;
      throw new ConflictError('rollout_in_progress', `deploy ${rollout.id} of ${role}:${rollout.tag} to ${env} is in progress; ${part}`);
    }
    const tag = await this.#wantedTag(role, env, rollout);
    const release = await store.getRelease(role, tag);
    if (!release) throw new GrapevineError('release_not_found', `role ${role} has no release ${tag}, which deploy ${rollout.id} left its group running`);
    if (release.broken) {
      throw new ConflictError('release_broken', `release ${role}:${release.tag}, the one ${env} should run, is marked broken (${release.broken.reason}); ${host} does not catch up to it`);
    }
    if (rollout.status !== 'succeeded' && rollout.status !== 'partial') {
      throw new ConflictError(
        'rollout_not_succeeded',
        `the newest deploy of ${role} to ${env} (${rollout.id}, ${rollout.tag}) ended ${rollout.status}; a host catches up only to a release whose deploy succeeded or ended partial`,
      );
    }
    if (image === release.image) return { kind: 'up_to_date' };
    const underWay = deploys.find((d) => d.catchUpOf === rollout.id && d.status === 'in_progress' && d.targets?.includes(host));
    if (underWay) return { kind: 'under_way', deploy: underWay };
    return { kind: 'create', rollout, release };
  }

  /**
   * The tag the rollout left its group running: its own, unless it was a blue/green deploy the
   * group was switched back from. Then the live colour runs the tag the deploy started from,
   * and a host catching up to the switched-away release would undo the switch back.
   */
  async #wantedTag(role: string, env: string, rollout: Deploy): Promise<string> {
    // Only a blue/green rollout is worth reading the live colour for.
    if (rollout.strategy?.kind !== 'blue-green') return rollout.tag;
    const live = await this.#deps.liveColour?.({ role, env });
    if (!switchedBackFrom(rollout, live)) return rollout.tag;
    const fromTag = rollout.strategy.fromTag;
    if (fromTag === undefined) {
      throw new ConflictError('nothing_to_catch_up', `${role} in ${env} was switched back to ${live} from deploy ${rollout.id}, which recorded no tag it started from; there is nothing to catch up to`);
    }
    return fromTag;
  }

  async #create(request: CatchUpBody, rollout: Deploy, release: Release, startedBy: string | undefined): Promise<CatchUpAnswer> {
    const { store } = this.#deps;
    const { role, env, host, image, cluster } = request;
    const record = newDeployRecord(this.#deps, { role, tag: release.tag, image: release.image }, {
      env,
      targets: [host],
      // The group's bound, not the one target's: the out-of-service set is the whole group's.
      slots: rollout.slots ?? (await this.#groupSlots(role, env, rollout, cluster)),
      catchUpOf: rollout.id,
      // The rollout ran the release's job already: one host catching up never runs it again.
      runJob: false,
      ...(startedBy === undefined ? {} : { startedBy }),
      ...(await this.#colourOf(role, env)),
      ...(rollout.cluster === undefined ? {} : { cluster: rollout.cluster }),
    });
    const stored = await store.createDeploy(record);
    this.#logger.info(
      { deployId: record.id, role, env, host, tag: record.tag, seq: stored.seq, slots: record.slots, catchUpOf: rollout.id, was: image },
      `catch-up of ${host} to ${role}:${record.tag} created`,
    );
    this.#deps.fleetEvents.publish({ kind: 'deploy.started', at: record.createdAt, actor: startedBy ?? host, deploy: stored });
    return { kind: 'created', deploy: { ...stored, hosts: {} } };
  }

  /** A third (the slots setting) of the group's alive hosts, or of the rollout's targets when Serf cannot say. */
  async #groupSlots(role: string, env: string, rollout: Deploy, cluster: string | undefined): Promise<number> {
    let hosts: number;
    try {
      hosts = (await aliveHostsOf(this.#deps.membership, role, env, rollout.cluster === undefined ? undefined : cluster)).length;
    } catch (error) {
      if (!(error instanceof UnreachableError)) throw error;
      hosts = rollout.targets?.length ?? rollout.expectedHosts ?? 1;
    }
    return slotCount(Math.max(1, hosts), this.#deps.slots);
  }
}

/**
 * The newest by sequence number (the group's creation order, one INCR in Redis), not by the list's
 * order: that is by createdAt, each coordinator's own clock, and two coordinators' clocks differ.
 */
function newestOf(deploys: readonly Deploy[]): Deploy | undefined {
  let newest = deploys[0];
  for (const deploy of deploys) if ((deploy.seq ?? 0) > (newest?.seq ?? 0)) newest = deploy;
  return newest;
}
