// What a new deploy's strategy means before any host moves (coordinator/strategies/strategy-plan.ts),
// and the weights that give servers a share of traffic (traffic-weights.ts): pure rules.
import { describe, expect, it } from 'vitest';
import { canaryCount, planStrategy, type PlanInput } from '../../coordinator/strategies/strategy-plan.js';
import { serversOf, shareWeights } from '../../coordinator/strategies/traffic-weights.js';
import { UNSUCCESSFUL_STATES, deployOutcome } from '../../coordinator/deploy-outcome.js';
import { tallyReports } from '../../shared/contract/deploy-tally.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { RoleStrategyConfig } from '../../shared/contract/strategy.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const config = RoleStrategyConfig.parse({ backends: { production: 'web' }, canary: { hosts: 2 } });
const base: PlanInput = { role: 'web', env: 'production', config, targets: HOSTS, canDriveLoadBalancer: true, now: 1_000, pick: (hosts, count) => hosts.slice(-count) };

describe('planStrategy', () => {
  it('keeps a rolling deploy as it was: no strategy, no gate, the live colour only for a group with colours', () => {
    expect(planStrategy({ ...base, requested: 'rolling' })).toEqual({ kind: 'rolling' });
    expect(planStrategy({ ...base, requested: 'rolling', colours: { role: 'web', env: 'production', live: 'green', retired: null } })).toEqual({ kind: 'rolling', colour: 'green' });
  });

  it("uses the role's strategy unless the deploy asks for another", () => {
    const canaryRole = RoleStrategyConfig.parse({ ...config, strategy: 'canary' });
    expect(planStrategy({ ...base, config: canaryRole }).kind).toBe('canary');
    expect(planStrategy({ ...base, config: canaryRole, requested: 'rolling' }).kind).toBe('rolling');
  });

  it('gates a canary deploy to its canary set and stores its steps', () => {
    const plan = planStrategy({ ...base, requested: 'canary' });
    expect(plan.gate).toEqual(['h5', 'h6']);
    expect(plan.strategy).toMatchObject({ kind: 'canary', phase: 'canary', backend: 'web', canaryHosts: ['h5', 'h6'], current: 0, phaseAt: 1_000 });
    expect(plan.strategy?.steps.map((step) => step.percent)).toEqual([5, 25, 50]);
  });

  it('starts a blue/green deploy on the colour that is not live (green while blue serves)', () => {
    expect(planStrategy({ ...base, requested: 'blue-green' })).toMatchObject({ colour: 'green', strategy: { phase: 'staging', fromColour: 'blue' } });
    const live = { role: 'web', env: 'production', live: 'green' as const, retired: null };
    expect(planStrategy({ ...base, requested: 'blue-green', colours: live })).toMatchObject({ colour: 'blue', strategy: { fromColour: 'green' } });
  });

  it('refuses a canary or blue/green deploy without a backend or a way to the load balancer, naming the setting', () => {
    expect(() => planStrategy({ ...base, env: 'staging', requested: 'canary' })).toThrow(/strategies\.web\.backends\.staging/);
    expect(() => planStrategy({ ...base, requested: 'blue-green', canDriveLoadBalancer: false })).toThrow(/loadBalancer\.relay/);
  });

  it('sizes the canary set from a number or a share: at least one host, never all', () => {
    expect(canaryCount(2, 6, 'web')).toBe(2);
    expect(canaryCount('10%', 6, 'web')).toBe(1);
    expect(canaryCount('50%', 7, 'web')).toBe(4);
    expect(canaryCount(9, 6, 'web')).toBe(5);
    expect(() => canaryCount(1, 1, 'web in production')).toThrow(/at least 2 hosts/);
  });
});

describe('shareWeights', () => {
  const share = (weights: Record<string, number>, favoured: string[]) => {
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    return favoured.reduce((sum, server) => sum + (weights[server] ?? 0), 0) / total;
  };

  it("gives the canary servers about the step's share of the traffic", () => {
    for (const percent of [5, 25, 50, 90]) {
      const weights = shareWeights(['h5', 'h6'], ['h1', 'h2', 'h3', 'h4'], percent);
      expect(Math.abs(share(weights, ['h5', 'h6']) - percent / 100)).toBeLessThan(0.02);
      expect(Math.max(...Object.values(weights))).toBeLessThanOrEqual(256);
    }
  });

  it('puts everything on one side at 0 % and 100 %', () => {
    expect(shareWeights(['a'], ['b'], 100)).toEqual({ a: 100, b: 0 });
    expect(shareWeights(['a'], ['b'], 0)).toEqual({ a: 0, b: 100 });
  });

  it("names a coloured host's server after its colour", () => {
    expect(serversOf(['h1', 'h2'], 'blue')).toEqual(['h1.blue', 'h2.blue']);
    expect(serversOf(['h1'], undefined)).toEqual(['h1']);
  });
});

describe('deployOutcome with a strategy', () => {
  const record: DeployRecord = { id: 'd-abcdef12', role: 'web', env: 'production', tag: 'v2', image: 'r/web:v2', status: 'in_progress', createdAt: 0, expectedHosts: 2, targets: ['h1', 'h2'] };
  const hosts = {
    h1: { host: 'h1', state: 'succeeded' as const, steps: [] },
    h2: { host: 'h2', state: 'cancelled' as const, steps: [], error: 'release v2 is broken' },
  };

  /** The outcome as the coordinator reaches it: counts, then the reports that did not succeed. */
  const outcomeOf = (deploy: DeployRecord, reports: Record<string, HostReport>) =>
    deployOutcome({
      record: deploy,
      tally: tallyReports(deploy.targets, deploy.expectedHosts, reports),
      unsuccessful: Object.values(reports).filter((report) => UNSUCCESSFUL_STATES.has(report.state)),
      countedDown: true,
    });

  it('ends a canary the analysis failed as failed, with the analysis as its reason', () => {
    const strategy = { kind: 'canary' as const, phase: 'done' as const, steps: [], current: 0, ended: 'failed' as const, outcome: 'canary analysis failed at step 1' };
    expect(outcomeOf({ ...record, strategy }, hosts)).toEqual({ status: 'failed', reason: 'canary analysis failed at step 1' });
  });

  it('never ends a blue/green deploy before its switch', () => {
    const strategy = { kind: 'blue-green' as const, phase: 'staging' as const, steps: [], current: 0 };
    const done = { h1: { ...hosts.h1 }, h2: { ...hosts.h1, host: 'h2' } };
    expect(outcomeOf({ ...record, strategy }, done)).toBeUndefined();
    expect(outcomeOf({ ...record, strategy: { ...strategy, phase: 'done' } }, done)).toEqual({ status: 'succeeded' });
  });
});
