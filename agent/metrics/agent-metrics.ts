// One host's Prometheus metrics (README, "Insight"): how long each step of its deploys took,
// the release it runs per role, how its last deploy ended, and the slot lease renewals that
// failed, plus Node.js's process metrics. The deploy path only tells it what happened, and
// nothing it does may reach a deploy: every entry point catches its own failures.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../../shared/contract/logger.js';
import { errorMessage } from '../../shared/contract/errors.js';
import type { HostReport, HostState } from '../../shared/contract/schemas.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import type { LeaseWatch } from '../../shared/ports/slot-locks.js';
import { stepDurations } from './step-durations.js';

/** From a Redis round trip to a slow image pull or a long health soak. */
const STEP_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** The states a host's own part in a deploy ends in (`lost` is the coordinator's word, never the host's). */
const ENDED_STATES: readonly HostState[] = ['succeeded', 'failed', 'errored', 'cancelled'];

export interface AgentMetricsOptions {
  logger: Logger;
  /** Node.js's process metrics; on unless false (tests that count series). */
  processMetrics?: boolean;
}

/** The deploy a host's part was in, as the metrics label it. */
export interface EndedDeploy {
  role: string;
  env: string;
  tag: string;
}

interface LastDeploy {
  state: HostState;
  endedAt: number;
}

export class AgentMetrics implements LeaseWatch {
  readonly #registry = new Registry();
  readonly #logger: Logger;
  readonly #steps: Histogram<'role' | 'env' | 'step'>;
  readonly #renewalsFailed: Counter<'role' | 'env'>;
  readonly #leasesLost: Counter<'role' | 'env'>;
  /** Per group (`role/env`): the release its container runs, as last learned. */
  readonly #running = new Map<string, { group: DeployGroup; tag: string }>();
  readonly #lastDeploy = new Map<string, { group: DeployGroup; last: LastDeploy }>();

  constructor(options: AgentMetricsOptions) {
    this.#logger = options.logger.child({ component: 'metrics' });
    const registers = [this.#registry];
    this.#steps = new Histogram({
      name: 'grapevine_agent_step_duration_seconds',
      help: "Time this host spent in each step of its part in a deploy (from the step's start to the next one's), by role, environment and step",
      labelNames: ['role', 'env', 'step'],
      buckets: STEP_SECONDS,
      registers,
    });
    const running = this.#running;
    new Gauge({
      name: 'grapevine_agent_release_info',
      help: "The release this host's container of each role runs (1, with the tag as a label): set when a deploy succeeds here, and at every reconcile round from the image it runs",
      labelNames: ['role', 'env', 'tag'],
      registers,
      collect() {
        this.reset();
        for (const { group, tag } of running.values()) this.set({ ...group, tag }, 1);
      },
    });
    const lastDeploy = this.#lastDeploy;
    new Gauge({
      name: 'grapevine_agent_last_deploy_state',
      help: "How this host's part in the newest deploy of each role and environment ended: 1 for its state, 0 for the others",
      labelNames: ['role', 'env', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { group, last } of lastDeploy.values()) {
          for (const state of ENDED_STATES) this.set({ ...group, state }, state === last.state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'grapevine_agent_last_deploy_timestamp_seconds',
      help: "When this host's part in the newest deploy of each role and environment ended (seconds since the epoch)",
      labelNames: ['role', 'env'],
      registers,
      collect() {
        this.reset();
        for (const { group, last } of lastDeploy.values()) this.set(group, last.endedAt / 1000);
      },
    });
    this.#renewalsFailed = new Counter({
      name: 'grapevine_agent_lease_renewals_failed_total',
      help: 'Slot lease renewals that did not renew (Redis failed or did not answer, or another host holds the slot), by role and environment',
      labelNames: ['role', 'env'],
      registers,
    });
    this.#leasesLost = new Counter({
      name: 'grapevine_agent_leases_lost_total',
      help: 'Slot leases this host lost while deploying (it stopped and put its previous version back), by role and environment',
      labelNames: ['role', 'env'],
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.#registry });
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  exposition(): Promise<string> {
    return this.#registry.metrics();
  }

  /** This host's part in a deploy ended, with its final report. */
  deployEnded(deploy: EndedDeploy, report: HostReport): void {
    this.#guard('deploy end', () => {
      const group = { role: deploy.role, env: deploy.env };
      for (const { step, seconds } of stepDurations(report)) this.#steps.observe({ ...group, step }, seconds);
      this.#lastDeploy.set(keyOf(group), { group, last: { state: report.state, endedAt: report.endedAt ?? Date.now() } });
      // Any other end put the previous version back (or could not): the next reconcile round says which runs.
      if (report.state === 'succeeded') this.#running.set(keyOf(group), { group, tag: deploy.tag });
    });
  }

  /** What a reconcile round found running: the tag of the release whose image the container runs, null when none runs. */
  running(group: DeployGroup, tag: string | null): void {
    this.#guard('running release', () => {
      if (tag === null) this.#running.delete(keyOf(group));
      else this.#running.set(keyOf(group), { group: { role: group.role, env: group.env }, tag });
    });
  }

  renewalFailed(group: DeployGroup): void {
    this.#guard('lease renewal', () => this.#renewalsFailed.inc({ role: group.role, env: group.env }));
  }

  lost(group: DeployGroup): void {
    this.#guard('lease loss', () => this.#leasesLost.inc({ role: group.role, env: group.env }));
  }

  #guard(what: string, update: () => void): void {
    try {
      update();
    } catch (error) {
      this.#logger.warn({ err: errorMessage(error) }, `could not count a ${what} in the metrics`);
    }
  }
}

function keyOf(group: DeployGroup): string {
  return `${group.role}/${group.env}`;
}
