// What the strategy runner's steps share: the store, the fleet's Redis state, the load
// balancer, the groups' colours and the Serf events, each step's logger, and the one way a
// step saves the strategy's progress on its deploy.
import type { Logger } from '../../shared/contract/logger.js';
import type { Deploy, RetireEventPayload, StrategyState } from '../../shared/contract/schemas.js';
import type { RoleStrategyConfig } from '../../shared/contract/strategy.js';
import type { ColourState } from '../../shared/ports/colour-state.js';
import type { DeployStore, DeployRecord } from '../../shared/ports/deploy-store.js';
import type { FleetControl } from '../../shared/ports/fleet-state.js';
import type { TrafficControl } from '../../shared/ports/traffic.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';
import { GrapevineError } from '../../shared/contract/errors.js';

export interface StrategyContext {
  store: DeployStore;
  fleet: FleetControl;
  /** The load balancer; canary and blue/green deploys are refused at creation without it. */
  traffic: TrafficControl | undefined;
  colours: ColourState;
  events: { fireRetire(payload: RetireEventPayload): Promise<void> };
  fleetEvents: FleetEventPublisher;
  /** The role's strategies as configured (defaults for a role the config does not name). */
  config: (role: string) => RoleStrategyConfig;
  logger: Logger;
  now: () => number;
}

/** The load balancer, which a deploy with a strategy was only created with. */
export function trafficOf(context: StrategyContext): TrafficControl {
  if (!context.traffic) throw new GrapevineError('strategy_unavailable', 'the coordinator has no load balancer (loadBalancer.relay in its config)');
  return context.traffic;
}

/** Saves the strategy's progress on the deploy; returns the record after. */
export async function saveStrategy(context: StrategyContext, deploy: Pick<Deploy, 'id'>, strategy: StrategyState): Promise<DeployRecord> {
  const saved = await context.store.annotateDeploy(deploy.id, { strategy });
  if (!saved) throw new GrapevineError('deploy_not_found', `deploy ${deploy.id} is gone`);
  return saved;
}

/** The strategy of a deploy that has one. */
export function strategyOf(deploy: Pick<Deploy, 'id' | 'strategy'>): StrategyState {
  if (!deploy.strategy) throw new GrapevineError('strategy_unavailable', `deploy ${deploy.id} has no strategy`);
  return deploy.strategy;
}
