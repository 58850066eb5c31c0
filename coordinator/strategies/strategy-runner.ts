// Drives every canary and blue/green deploy through its steps (coordinator/strategies/*-steps.ts):
// twice a second, each such deploy still in progress is read and moved on when its hosts or its
// window say so. All state lives on the deploy (its `strategy`) and in the groups' colours, so a
// restarted coordinator picks every deploy up where it was. Operators' promote, abort and switch
// run in the same queue as the ticks, so no two changes of one deploy interleave.
import { errorMessage, GrapevineError, NotFoundError } from '../../shared/contract/errors.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import { abortCanary, advanceCanary, promoteCanary } from './canary-steps.js';
import { advanceBlueGreen, retireDue, switchBack, type SwitchOutcome } from './blue-green-steps.js';
import type { StrategyContext } from './strategy-context.js';
import type { Leadership } from '../leadership/coordinator-lease.js';

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

  /** With two coordinators, only the lease holder moves deploys on: checked before every pass and every deploy. */
  readonly #leadership: Leadership | undefined;

  constructor(context: StrategyContext, options: { intervalMs?: number; leadership?: Leadership } = {}) {
    this.#context = { ...context, logger: context.logger.child({ component: 'strategies' }) };
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.#leadership = options.leadership;
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
      await retireDue(this.#context).catch((error: unknown) => logger.warn({ err: errorMessage(error) }, 'could not retire an old colour; trying again next tick'));
    });
  }

  promote(id: string, actor: string): Promise<Deploy> {
    return this.#serialised(async () => {
      await promoteCanary(this.#context, await this.#deploy(id), actor);
      return this.#deploy(id);
    });
  }

  abort(id: string, actor: string): Promise<Deploy> {
    return this.#serialised(async () => {
      await abortCanary(this.#context, await this.#deploy(id), actor);
      return this.#deploy(id);
    });
  }

  switchBack(group: DeployGroup, actor: string): Promise<SwitchOutcome> {
    return this.#serialised(async () => {
      const backend = this.#context.config(group.role).backends[group.env];
      if (backend === undefined) throw new GrapevineError('strategy_unavailable', `no load balancer backend for ${group.role} in ${group.env}: set strategies.${group.role}.backends.${group.env} in the coordinator's config`);
      return switchBack(this.#context, group, backend, actor);
    });
  }

  async #advance(id: string): Promise<void> {
    const { store, logger } = this.#context;
    try {
      const deploy = await store.getDeploy(id);
      const strategy = deploy?.strategy;
      if (!deploy || deploy.status !== 'in_progress' || !strategy || strategy.phase === 'done') return;
      if (strategy.kind === 'canary') await advanceCanary(this.#context, deploy);
      else if (strategy.kind === 'blue-green') await advanceBlueGreen(this.#context, deploy);
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
