// Quarantine after the fact (README, "Quarantine"): hosts still running a release once it is
// marked broken go back, through the slots, to the newest tag each ran that is not broken, in a
// rollback deploy of just those hosts; and the canary set of a canary that never passed goes
// back the same way. Runs as a reader of the fleet's events: on a broken mark when nothing of the
// group is deploying, else when that deploy ends. An operator who marks a release broken often
// rolls back or deploys a fix at once: the quarantine waits `graceMs` and steps aside for any
// deploy of the group created meanwhile (the canary's own rollback does not wait). A quarantine
// waiting out its grace is also written to Redis: if this coordinator dies meanwhile, the leader
// takes it up a little after it was due (resumeDue), and whichever claims it first acts.
import { errorMessage } from '../../shared/contract/errors.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { CreateDeployBody, Deploy } from '../../shared/contract/schemas.js';
import type { DeployOrigin, StartOptions } from '../deploy-starter.js';
import type { DeployRecord, DeployStore } from '../../shared/ports/deploy-store.js';
import type { PendingQuarantine, PendingQuarantines } from '../../shared/ports/pending-quarantines.js';

/** How far back a group's history is read for what each host runs and ran. */
const HISTORY_LIMIT = 100;

/** How long a quarantine leaves to an operator's own rollback or deploy before it acts. */
export const DEFAULT_QUARANTINE_GRACE_MS = 60_000;
/** How long past its due time the leader leaves a pending quarantine to the coordinator whose timer it is. */
const TAKE_OVER_AFTER_MS = 10_000;

export interface QuarantineDeps {
  store: DeployStore;
  /** DEFAULT_QUARANTINE_GRACE_MS unless given; 0 acts at once. */
  graceMs?: number;
  now: () => number;
  starter: { start(request: CreateDeployBody, origin: DeployOrigin, options: StartOptions): Promise<Deploy> };
  logger: Logger;
  /** Where quarantines waiting out their grace are kept for the other coordinator; this process's memory alone without it. */
  pending?: PendingQuarantines | undefined;
}

export class Quarantine {
  readonly #deps: QuarantineDeps;
  readonly #logger: Logger;

  constructor(deps: QuarantineDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'quarantine' });
  }

  /** The fleet event reader. */
  readonly read = async (event: FleetEvent): Promise<void> => {
    if (event.kind === 'deploy.finished') await this.#afterDeploy(event.deploy);
    else if (event.kind === 'release.broken') await this.#afterMark(event.role, event.tag);
  };

  async #afterDeploy(deploy: DeployRecord): Promise<void> {
    const { strategy } = deploy;
    if (strategy?.kind === 'canary' && strategy.phase !== 'rollout') {
      // The canary never passed (failed, aborted, cut off by the deadline): its hosts leave the tag whatever its mark.
      const full = await this.#deps.store.getDeploy(deploy.id);
      const hosts = (strategy.canaryHosts ?? []).filter((host) => full?.hosts[host]?.state === 'succeeded');
      await this.#sendBack(deploy.role, deploy.env, deploy.tag, hosts, `the canary of ${deploy.tag} did not pass (${deploy.reason ?? strategy.outcome ?? deploy.status})`);
      return;
    }
    const release = await this.#deps.store.getRelease(deploy.role, deploy.tag);
    if (!release?.broken) return;
    await this.#afterGrace([deploy], deploy.tag);
  }

  async #afterMark(role: string, tag: string): Promise<void> {
    const since = this.#deps.now();
    const envs = await this.#deps.store.envsOfRole(role);
    const idle: string[] = [];
    for (const env of envs) {
      const [newest] = await this.#deps.store.listDeploys({ role, env, limit: 1 });
      // A deploy under way ends first (its waiting hosts stand down); its end brings the quarantine.
      if (newest?.status !== 'in_progress') idle.push(env);
    }
    if (idle.length === 0) return;
    await this.#afterGrace(idle.map((env) => ({ role, env })), tag, since);
  }

  /** Quarantines every pending one a coordinator left (it died in the grace): the leader's, now and then. */
  readonly resumeDue = async (): Promise<void> => {
    const { pending } = this.#deps;
    if (!pending) return;
    const now = this.#deps.now();
    for (const entry of await pending.all()) {
      if (entry.dueAt + TAKE_OVER_AFTER_MS > now) continue;
      this.#logger.warn({ role: entry.role, env: entry.env, tag: entry.tag, dueAt: entry.dueAt }, 'taking up a quarantine another coordinator left pending');
      await this.#act(entry);
    }
  };

  /** Each group's quarantine from `tag` once the grace is over, kept pending in Redis meanwhile. */
  async #afterGrace(groups: { role: string; env: string }[], tag: string, since = this.#deps.now()): Promise<void> {
    const graceMs = this.#deps.graceMs ?? DEFAULT_QUARANTINE_GRACE_MS;
    const entries = groups.map(({ role, env }) => ({ role, env, tag, since, dueAt: since + graceMs }));
    try {
      for (const entry of entries) await this.#deps.pending?.add(entry);
    } catch (error) {
      this.#logger.warn({ err: errorMessage(error), tag }, 'could not record the pending quarantine; only this coordinator\'s timer carries it');
    }
    if (graceMs > 0) await new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    for (const entry of entries) await this.#act(entry);
  }

  /** One pending quarantine, unless the other coordinator claimed it first or an operator acted in the grace. */
  async #act(entry: PendingQuarantine): Promise<void> {
    if (this.#deps.pending && !(await this.#deps.pending.claim(entry).catch(() => true))) return;
    if (await this.#someoneActed(entry.role, entry.env, entry.since)) return;
    await this.#quarantineGroup(entry.role, entry.env, entry.tag);
  }

  /** A deploy of the group created since `since`: an operator's rollback or fix, which the quarantine leaves to do its work. */
  async #someoneActed(role: string, env: string, since: number): Promise<boolean> {
    const [newest] = await this.#deps.store.listDeploys({ role, env, limit: 1 });
    const acted = newest !== undefined && newest.createdAt >= since;
    if (acted) this.#logger.info({ role, env, deployId: newest.id, startedBy: newest.startedBy }, 'quarantine steps aside: a deploy of the group was started meanwhile');
    return acted;
  }

  /** Every host of the group whose newest succeeded deploy is of `tag`. */
  async #quarantineGroup(role: string, env: string, tag: string): Promise<void> {
    const history = await this.#deps.store.listDeploys({ role, env, limit: HISTORY_LIMIT });
    await this.#sendBack(role, env, tag, hostsRunning(history, tag), `${tag} is marked broken`, history);
  }

  /** Each of `hosts` back to the newest tag it ran that is neither `leaving` nor broken, one rollback per tag. */
  async #sendBack(role: string, env: string, leaving: string, hosts: readonly string[], why: string, known?: Deploy[]): Promise<void> {
    if (hosts.length === 0) return;
    const { store } = this.#deps;
    const history = known ?? (await store.listDeploys({ role, env, limit: HISTORY_LIMIT }));
    const brokenTags = new Set<string>([leaving]);
    const isBroken = async (candidate: string) => {
      if (brokenTags.has(candidate)) return true;
      const broken = (await store.getRelease(role, candidate))?.broken !== undefined;
      if (broken) brokenTags.add(candidate);
      return broken;
    };
    const backTo = new Map<string, string[]>();
    const stranded: string[] = [];
    for (const host of hosts) {
      const ran = history.filter((deploy) => deploy.hosts[host]?.state === 'succeeded').map((deploy) => deploy.tag);
      let previous: string | undefined;
      for (const candidate of ran) {
        if (!(await isBroken(candidate))) {
          previous = candidate;
          break;
        }
      }
      if (previous === undefined) stranded.push(host);
      else backTo.set(previous, [...(backTo.get(previous) ?? []), host]);
    }
    if (stranded.length > 0) this.#logger.warn({ role, env, leaving, hosts: stranded, why }, `hosts on ${leaving} never ran a tag that is not broken: deploy one by name`);
    for (const [previous, back] of backTo) await this.#rollBack(role, env, leaving, back, why, previous);
  }

  async #rollBack(role: string, env: string, leaving: string, hosts: string[], why: string, tag: string): Promise<void> {
    const log = this.#logger.child({ role, env, leaving, hosts });
    try {
      const deploy = await this.#deps.starter.start(
        { role, env, tag, strategy: 'rolling', force: true },
        { rollbackOf: leaving, runJob: false, startedBy: 'coordinator' },
        // A quarantine is the fleet protecting itself: past a freeze too (its hosts still wait while the group is frozen).
        { only: hosts, scope: 'operator' },
      );
      log.warn({ deployId: deploy.id, tag, why }, `quarantine: ${hosts.length} host(s) go back from ${leaving} to ${tag}`);
    } catch (error) {
      log.error({ err: errorMessage(error), why }, 'quarantine could not start its rollback; roll back by hand');
    }
  }
}

/** Hosts whose newest succeeded deploy in `history` (newest first) is of `tag`. */
function hostsRunning(history: readonly Deploy[], tag: string): string[] {
  const seen = new Set<string>();
  const running: string[] = [];
  for (const deploy of history) {
    for (const [host, report] of Object.entries(deploy.hosts)) {
      if (report.state !== 'succeeded' || seen.has(host)) continue;
      seen.add(host);
      if (deploy.tag === tag) running.push(host);
    }
  }
  return running.sort();
}
