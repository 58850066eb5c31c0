// Drives every canary and blue/green deploy through its steps (coordinator/strategies/*-steps.ts):
// twice a second, each such deploy still in progress is read and moved on when its hosts or its
// window say so. All state lives on the deploy (its `strategy`) and in the groups' colours, so a
// restarted coordinator picks every deploy up where it was. Operators' promote, abort and switch
// run in the same queue as the ticks, and every change of a group (a step, a retire, an
// operator's promote, abort or switch) holds that group's lock, which both coordinators take:
// the runner moves deploys on only on the lease holder, while an operator's call may reach the
// other coordinator, and the lock keeps the two from interleaving. (A lock rather than handing
// the decision to the leader through Redis: all the state is in Redis already, so whichever
// coordinator holds the lock may act, and the operator gets the answer in the same request.)
import { performance } from 'node:perf_hooks';
import { errorMessage, GrapevineError, NotFoundError } from '../../shared/contract/errors.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import { abortCanary, advanceCanary, promoteCanary } from './canary-steps.js';
import { advanceBlueGreen, dueToRetire, retireIfDue, switchBack, type SwitchOutcome } from './blue-green-steps.js';
import type { StrategyContext } from './strategy-context.js';
import type { Leadership } from '../leadership/coordinator-lease.js';
import { CoordinatorGroupLocks, type GroupLocks, type LockPurpose } from '../leadership/group-lock.js';

const DEFAULT_INTERVAL_MS = 500;
/** Deploys read per tick, oldest first. */
const MAX_DEPLOYS_PER_TICK = 200;

export class StrategyRunner {
  readonly #context: StrategyContext;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** The one queue every change goes through. */
  #queue: Promise<unknown> = Promise.resolve();
  #ticking = false;
  /** Other leader-only work, run after a pass at most every `everyMs`. */
  readonly #alsoOnTick: { name: string; work: () => Promise<void>; everyMs: number; last: number }[] = [];

  /** With two coordinators, only the lease holder moves deploys on: checked before every pass and every deploy. */
  readonly #leadership: Leadership | undefined;
  /** The groups' locks the other coordinator takes too; this process's alone unless given. */
  readonly #locks: GroupLocks;

  constructor(context: StrategyContext, options: { intervalMs?: number; leadership?: Leadership; locks?: GroupLocks } = {}) {
    this.#context = { ...context, logger: context.logger.child({ component: 'strategies' }) };
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.#leadership = options.leadership;
    this.#locks = options.locks ?? new CoordinatorGroupLocks({ name: 'coordinator', logger: context.logger });
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#ticking) return;
      this.#ticking = true;
      void this.tick().finally(() => {
        this.#ticking = false;
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#queue.catch(() => undefined);
  }

  /** One pass over the deploys with a strategy, then the colours due to retire; failures are logged, never thrown. */
  tick(): Promise<void> {
    return this.#serialised(async () => {
      const { store, logger } = this.#context;
      if (this.#leadership && !(await this.#leadership.confirm())) return;
      let ids: string[];
      try {
        ids = await store.inProgressDeployIds(MAX_DEPLOYS_PER_TICK);
      } catch (error) {
        logger.warn({ err: errorMessage(error) }, 'could not list the deploys in progress; trying again next tick');
        return;
      }
      for (const id of ids) {
        // A coordinator that paused past its lease stops here: another may be moving them on by now.
        if (this.#leadership && !this.#leadership.leading) return;
        await this.#advance(id);
      }
      await this.#retireDue().catch((error: unknown) => logger.warn({ err: errorMessage(error) }, 'could not retire an old colour; trying again next tick'));
      for (const extra of this.#alsoOnTick) {
        if (performance.now() - extra.last < extra.everyMs) continue;
        extra.last = performance.now();
        await extra.work().catch((error: unknown) => logger.warn({ err: errorMessage(error), work: extra.name }, 'leader-only work failed; trying again later'));
      }
    });
  }

  /** Runs `work` on the leader after a pass, at most every `everyMs` (the quarantines a dead coordinator left). */
  alsoOnTick(name: string, work: () => Promise<void>, everyMs = 5_000): void {
    this.#alsoOnTick.push({ name, work, everyMs, last: Number.NEGATIVE_INFINITY });
  }

  promote(id: string, actor: string): Promise<Deploy> {
    return this.#serialised(() => this.#onDeploy(id, 'canary-promote', (deploy) => promoteCanary(this.#context, deploy, actor)));
  }

  abort(id: string, actor: string): Promise<Deploy> {
    return this.#serialised(() => this.#onDeploy(id, 'canary-abort', (deploy) => abortCanary(this.#context, deploy, actor)));
  }

  switchBack(group: DeployGroup, actor: string): Promise<SwitchOutcome> {
    return this.#serialised(async () => {
      const backend = this.#context.config(group.role).backends[group.env];
      if (backend === undefined) throw new GrapevineError('strategy_unavailable', `no load balancer backend for ${group.role} in ${group.env}: set strategies.${group.role}.backends.${group.env} in the coordinator's config`);
      return this.#locks.hold(group, 'switch-back', () => switchBack(this.#context, group, backend, actor));
    });
  }

  /** An operator's change of a deploy, on the deploy as read under its group's lock; answers the deploy after it. */
  async #onDeploy(id: string, purpose: LockPurpose, change: (deploy: Deploy) => Promise<unknown>): Promise<Deploy> {
    const { role, env } = await this.#deploy(id);
    return this.#locks.hold({ role, env }, purpose, async () => {
      await change(await this.#deploy(id));
      return this.#deploy(id);
    });
  }

  /** Each group whose old colour is due, retired under its lock (read again there: a switch back may have come first). */
  async #retireDue(): Promise<void> {
    for (const { role, env } of await dueToRetire(this.#context)) {
      await this.#locks.hold({ role, env }, 'strategy-step', () => retireIfDue(this.#context, { role, env }));
    }
  }

  async #advance(id: string): Promise<void> {
    const { store, logger } = this.#context;
    const moving = <D extends DeployRecord>(deploy: D | undefined): deploy is D => deploy !== undefined && deploy.status === 'in_progress' && deploy.strategy !== undefined && deploy.strategy.phase !== 'done';
    try {
      // The record (parsed once per change), not every host's report: a rolling deploy is passed over twice a second.
      const seen = await store.getRecord(id);
      if (!moving(seen)) return;
      // Read again under the lock: an operator's promote or abort on the other coordinator may have come first.
      await this.#locks.hold({ role: seen.role, env: seen.env }, 'strategy-step', async () => {
        const deploy = await store.getDeploy(id);
        if (!moving(deploy)) return;
        if (deploy.strategy?.kind === 'canary') await advanceCanary(this.#context, deploy);
        else if (deploy.strategy?.kind === 'blue-green') await advanceBlueGreen(this.#context, deploy);
      });
    } catch (error) {
      logger.warn({ deployId: id, err: errorMessage(error) }, 'could not move the deploy\'s strategy on; trying again next tick');
    }
  }

  async #deploy(id: string): Promise<Deploy> {
    const deploy = await this.#context.store.getDeploy(id);
    if (!deploy) throw new NotFoundError(`no deploy ${id}`);
    return deploy;
  }

  #serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
