// The hosts a group counts out of service, as an operator needs to see them while a rollout
// runs with fewer slots (what Serf says of each, which one holds a slot, the newest deploy's
// k), and forgetting one that is gone for good so its place against k is given back.
import { ConflictError, errorMessage, NotFoundError } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import type { ForgottenHost, OutOfServiceHost, OutOfServiceList } from '../shared/contract/schemas.js';
import type { DeployStore } from '../shared/ports/deploy-store.js';
import type { DeployGroup, FleetControl } from '../shared/ports/fleet-state.js';
import type { Membership } from '../shared/ports/membership.js';

/**
 * The newest deploys of a group whose k bounds the slot keys read. A slot lease lives only
 * while its holder deploys, so a holder's slot number is within the k of a recent deploy.
 */
const DEPLOYS_FOR_SLOTS = 5;

/** Serf statuses that say a host is gone: it cannot be deploying, whatever slot key is left. */
const GONE = new Set(['failed', 'left', 'not-listed']);

export interface OutOfServiceDeps {
  store: DeployStore;
  membership: Membership;
  fleet: FleetControl;
  logger: Logger;
}

export interface ForgetOptions {
  /** Forget a host even while it is deploying (alive, or unknown to Serf, and holding a slot). */
  force: boolean;
  /** Who asks, and why: for the log. */
  by: string;
  reason?: string;
}

export class OutOfServiceHosts {
  readonly #deps: OutOfServiceDeps;
  readonly #logger: Logger;

  constructor(deps: OutOfServiceDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'out-of-service' });
  }

  async list(group: DeployGroup): Promise<OutOfServiceList> {
    const { store, fleet } = this.#deps;
    const [hosts, deploys, serf] = await Promise.all([
      fleet.outOfServiceHosts(group),
      store.listDeploys({ role: group.role, env: group.env, limit: DEPLOYS_FOR_SLOTS }),
      this.#serfStatuses(),
    ]);
    const maxSlots = Math.max(0, ...deploys.map((deploy) => deploy.slots ?? 0));
    const holders = await fleet.slotHolders(group, maxSlots);
    const slotOf = new Map(holders.map(({ host, slot }) => [host, slot]));
    const newest = deploys[0];
    return {
      role: group.role,
      env: group.env,
      deploy: newest ? { id: newest.id, status: newest.status, ...(newest.slots === undefined ? {} : { slots: newest.slots }) } : null,
      hosts: hosts.map((host) => ({
        host,
        serf: 'error' in serf ? 'unknown' : (serf.statuses.get(host) ?? 'not-listed'),
        slot: slotOf.get(host) ?? null,
      })),
      ...('error' in serf ? { serfError: serf.error } : {}),
    };
  }

  /**
   * Takes `host` out of the group's out-of-service set (waking a waiting host). Refused
   * while it holds a slot and Serf does not say it is gone: it is deploying, and forgetting
   * it would let k + 1 hosts out at once. `force` overrides that.
   */
  async forget(group: DeployGroup, host: string, options: ForgetOptions): Promise<ForgottenHost> {
    const listed = await this.list(group);
    const known = listed.hosts.find((entry) => entry.host === host);
    const log = { role: group.role, env: group.env, host, by: options.by, reason: options.reason };
    if (!known) throw new NotFoundError(`host ${host} is not counted out of service in ${group.role}/${group.env}`);
    const deploying = known.slot !== null && !GONE.has(known.serf);
    if (deploying && !options.force) {
      this.#logger.info({ ...log, serf: known.serf, slot: known.slot }, 'refused to forget a host that is deploying');
      throw new ConflictError('host_deploying', refusal(group, known, listed.serfError));
    }
    const removed = await this.#deps.fleet.backInService(group, host, this.#logger);
    this.#logger.warn(
      { ...log, serf: known.serf, slot: known.slot, forced: deploying, removed },
      removed ? 'host forgotten by an operator: no longer counted out of service' : 'host left the out-of-service set by itself before it was forgotten',
    );
    return { role: group.role, env: group.env, ...known, removed, forced: deploying };
  }

  async #serfStatuses(): Promise<{ statuses: Map<string, string> } | { error: string }> {
    try {
      // Node names are unique in a Serf cluster: a host is looked up by name whatever its tags say now.
      const members = await this.#deps.membership.members();
      return { statuses: new Map(members.map((member) => [member.name, member.status])) };
    } catch (error) {
      this.#logger.warn({ err: error }, 'Serf could not be asked for its members; statuses of out-of-service hosts unknown');
      return { error: errorMessage(error) };
    }
  }
}

function refusal(group: DeployGroup, known: OutOfServiceHost, serfError: string | undefined): string {
  const serf = serfError === undefined ? `Serf lists it ${known.serf}` : `Serf could not be asked whether it is alive (${serfError})`;
  return (
    `host ${known.host} holds slot ${known.slot} of ${group.role}/${group.env} and ${serf}: it may be deploying, and forgetting it ` +
    'would let k + 1 hosts out at once; wait until it serves again or its lease lapses, or force it if the host is gone for good'
  );
}
