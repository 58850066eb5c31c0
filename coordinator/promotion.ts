// Staging first: a deploy that succeeds in a role's `from` environment makes the
// coordinator deploy the same tag to its `to` environment, exactly once.
import { errorMessage } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import type { DeployStarter } from './deploy-starter.js';
import type { DeployRecord, DeployStore } from '../shared/ports/deploy-store.js';
import { deployRef } from '../shared/contract/fleet-events.js';
import type { FleetEventPublisher } from './fleet-event-bus.js';

export interface PromotionStep {
  from: string;
  to: string;
}

export interface PromoterDeps {
  store: DeployStore;
  starter: DeployStarter;
  /** Per role, from which environment to which a successful deploy is promoted. */
  promote: Record<string, PromotionStep>;
  logger: Logger;
  fleetEvents: FleetEventPublisher;
}

export class Promoter {
  readonly #deps: PromoterDeps;
  readonly #logger: Logger;

  constructor(deps: PromoterDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'promotion' });
  }

  /**
   * Promotes a succeeded deploy when its role is configured for it. Reports race, so every
   * report that sees the deploy succeeded may call this: an atomic claim in Redis lets one
   * through. Never throws: a promotion that cannot be created is recorded on the deploy.
   */
  async afterReport(record: DeployRecord): Promise<void> {
    const step = this.#deps.promote[record.role];
    // A catch-up brings one host to a release its environment already has: nothing to promote.
    if (record.status !== 'succeeded' || step?.from !== record.env || record.catchUpOf !== undefined) return;
    const { store, starter } = this.#deps;
    const log = this.#logger.child({ deployId: record.id, role: record.role, tag: record.tag, from: step.from, to: step.to });
    try {
      if (!(await store.claimPromotion(record.id))) return;
    } catch (error) {
      log.error({ err: error }, 'could not claim the promotion; it is not made');
      await this.#recordFailure(record, step.to, `could not claim the promotion: ${errorMessage(error)}`, log);
      return;
    }
    try {
      const promoted = await starter.start({ role: record.role, env: step.to, tag: record.tag }, { promotedFrom: record.id, startedBy: 'coordinator' });
      await store.annotateDeploy(record.id, { promotedTo: promoted.id });
      log.info({ promotedTo: promoted.id }, `promoted ${record.role}:${record.tag} from ${step.from} to ${step.to}`);
    } catch (error) {
      log.error({ err: error }, `promotion to ${step.to} failed`);
      await this.#recordFailure(record, step.to, `promotion to ${step.to} failed: ${errorMessage(error)}`, log);
    }
  }

  async #recordFailure(record: DeployRecord, to: string, error: string, log: Logger): Promise<void> {
    this.#deps.fleetEvents.publish({ kind: 'promotion.failed', at: Date.now(), actor: 'coordinator', deploy: deployRef(record), to, error });
    try {
      await this.#deps.store.annotateDeploy(record.id, { promotion: { error } });
    } catch (annotateError) {
      log.error({ err: annotateError }, 'could not record the failed promotion on the deploy');
    }
  }
}
