// What the deploy starter asks about strategies when a deploy is created: the plan
// (strategy-plan.ts) from the role's config and the group's colours, plus what a blue/green
// deploy must record before it starts: the tag the group wanted (its switch back returns to
// it) and no retirement left pending for the colour it is about to take over.
import type { CreateDeployBody } from '../../shared/contract/schemas.js';
import type { RoleStrategyConfig } from '../../shared/contract/strategy.js';
import type { ColourState } from '../../shared/ports/colour-state.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import { planStrategy, type StrategyPlan } from './strategy-plan.js';
import type { StrategyRunner } from './strategy-runner.js';
import type { PendingQuarantines } from '../../shared/ports/pending-quarantines.js';

/** Canary and blue/green, as the coordinator's API is given them. */
export interface AppStrategies {
  runner: StrategyRunner;
  colours: ColourState;
  /** The role's strategies as configured (defaults for a role the config does not name). */
  config: (role: string) => RoleStrategyConfig;
  /** Whether the coordinator reaches the load balancer (config loadBalancer). */
  canDriveLoadBalancer: boolean;
  /** Quarantines waiting out their grace, kept for the other coordinator (quarantine.ts); this process's alone without it. */
  pendingQuarantines?: PendingQuarantines;
}

export function strategyPlanner(strategies: AppStrategies, store: Pick<DeployStore, 'getDesiredTag'>, now: () => number) {
  return async (request: CreateDeployBody, targets: readonly string[]): Promise<StrategyPlan> => {
    const colours = await strategies.colours.get(request);
    const plan = planStrategy({
      role: request.role,
      env: request.env,
      requested: request.strategy,
      config: strategies.config(request.role),
      targets,
      colours,
      canDriveLoadBalancer: strategies.canDriveLoadBalancer,
      now: now(),
    });
    if (plan.strategy?.kind !== 'blue-green') return plan;
    const fromTag = await store.getDesiredTag(request.role, request.env);
    if (fromTag !== undefined) plan.strategy.fromTag = fromTag;
    // The idle colour kept for a switch back takes the new release now: it must not be retired under it.
    if (colours?.retireAt !== undefined) {
      const { retireAt: _dropped, ...kept } = colours;
      await strategies.colours.set({ ...kept, retired: null });
    }
    return plan;
  };
}
