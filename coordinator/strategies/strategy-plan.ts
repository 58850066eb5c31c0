// What a new deploy's strategy means before any host moves (README, "Strategies"): which
// strategy (the request's, else the role's), the canary set and the gate that holds every
// other host, or the colour a blue/green deploy starts; refused with a reason naming what is
// missing. Pure: the deploy starter stores the plan and closes the gate before it fires the event.
import { randomInt } from 'node:crypto';
import { ConflictError, ValidationError } from '../../shared/contract/errors.js';
import type { StrategyState } from '../../shared/contract/schemas.js';
import { otherColour, RoleStrategyConfig, type Colour, type StrategyKind } from '../../shared/contract/strategy.js';
import type { GroupColour } from '../../shared/ports/colour-state.js';

export interface StrategyPlan {
  kind: StrategyKind;
  /** Stored on the deploy for canary and blue/green; a rolling deploy has none. */
  strategy?: StrategyState;
  /** The colour each host replaces, for a group with colours (or a blue/green deploy, which gives it colours). */
  colour?: Colour;
  /** Only these hosts may take a slot until the strategy opens the gate (the canary set). */
  gate?: string[];
}

export interface PlanInput {
  role: string;
  env: string;
  /** `--strategy`, else the role's. */
  requested?: StrategyKind | undefined;
  /** The role's entry in the coordinator's `strategies`, if any. */
  config?: RoleStrategyConfig | undefined;
  /** The deploy's targets, sorted. */
  targets: readonly string[];
  /** The group's colours, undefined while it never ran blue/green. */
  colours?: GroupColour | undefined;
  /** Whether the coordinator can reach the load balancer (config `loadBalancer`). */
  canDriveLoadBalancer: boolean;
  now: number;
  /** Picks the canary set; random unless given (tests). */
  pick?: (hosts: readonly string[], count: number) => string[];
}

const DEFAULTS = RoleStrategyConfig.parse({});

export function planStrategy(input: PlanInput): StrategyPlan {
  const config = input.config ?? DEFAULTS;
  const kind = input.requested ?? config.strategy;
  const liveColour = input.colours?.live;
  if (kind === 'rolling') return { kind, ...(liveColour ? { colour: liveColour } : {}) };

  const backend = config.backends[input.env];
  const group = `${input.role} in ${input.env}`;
  if (backend === undefined) {
    throw new ConflictError('strategy_unavailable', `a ${kind} deploy of ${group} needs the role's load balancer backend: set strategies.${input.role}.backends.${input.env} in the coordinator's config`);
  }
  if (!input.canDriveLoadBalancer) {
    throw new ConflictError('strategy_unavailable', `a ${kind} deploy of ${group} needs the coordinator to reach the load balancer: set loadBalancer.relay in the coordinator's config`);
  }
  if (kind === 'canary') {
    const count = canaryCount(config.canary.hosts, input.targets.length, group);
    const canaryHosts = (input.pick ?? pickRandom)(input.targets, count).sort();
    return {
      kind,
      ...(liveColour ? { colour: liveColour } : {}),
      gate: canaryHosts,
      strategy: {
        kind,
        phase: 'canary',
        backend,
        canaryHosts,
        steps: config.canary.steps.map(({ percent, windowMs }) => ({ percent, windowMs })),
        current: 0,
        phaseAt: input.now,
      },
    };
  }
  const from = liveColour ?? 'blue';
  const { steps, stepWindowMs } = config.blueGreen;
  return {
    kind,
    colour: otherColour(from),
    strategy: {
      kind,
      phase: 'staging',
      backend,
      fromColour: from,
      steps: steps.map((percent) => ({ percent, windowMs: percent === 100 ? 0 : stepWindowMs })),
      current: 0,
      phaseAt: input.now,
    },
  };
}

/** The canary set's size: a number or a share of the targets, at least one, and at least one host left for the baseline. */
export function canaryCount(setting: number | string, targets: number, group: string): number {
  if (targets < 2) throw new ConflictError('strategy_unavailable', `a canary deploy of ${group} needs at least 2 hosts (one canary, one baseline); it has ${targets}`);
  const wanted = typeof setting === 'number' ? setting : Math.ceil((targets * Number(setting.slice(0, -1))) / 100);
  if (!Number.isFinite(wanted)) throw new ValidationError(`canary hosts ${JSON.stringify(setting)} is not a number or a share`);
  return Math.min(Math.max(1, wanted), targets - 1);
}

function pickRandom(hosts: readonly string[], count: number): string[] {
  const pool = [...hosts];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pool[i], pool[j]] = [pool[j] as string, pool[i] as string];
  }
  return pool.slice(0, count);
}
