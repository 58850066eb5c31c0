// The coordinator's Prometheus metrics (README, "Insight"), built from the fleet events alone:
// deploys by outcome and their durations, hosts by state, slot waits, broken releases and
// webhook failures, plus Node.js's process metrics. One registry per coordinator (never
// prom-client's global one), so tests and a second coordinator in one process keep theirs apart.
// Counters start from zero when the coordinator starts, as Prometheus's rate() expects.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { DeployStore } from '../../shared/ports/deploy-store.js';
import { HostStates } from './host-states.js';
import { CountedSlotWaits, slotWaitMs } from './slot-waits.js';
import type { MetricsExposition } from './metrics-route.js';

/** The fleet's newest deploys read at start for the hosts gauge: a group none of them is of appears with its next deploy. */
const REPLAYED_DEPLOYS = 200;
/** From a one-host catch-up of seconds to a fleet's half-hour rollout (the default deadline). */
const DEPLOY_SECONDS = [5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
/** From a slot free at once to a wait behind several waves of slow hosts. */
const SLOT_WAIT_SECONDS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800];

export interface FleetMetricsOptions {
  /** Node.js's process metrics (CPU, memory, event loop, handles); on unless false (tests that count series). */
  processMetrics?: boolean;
}

export class FleetMetrics implements MetricsExposition {
  readonly #registry = new Registry();
  readonly #hostStates = new HostStates();
  readonly #slotWaitsCounted = new CountedSlotWaits();
  readonly #deploys: Counter<'role' | 'env' | 'status'>;
  readonly #deployDuration: Histogram<'role' | 'env' | 'status'>;
  readonly #slotWait: Histogram<'role' | 'env'>;
  readonly #brokenReleases: Counter<'role'>;
  readonly #webhookFailures: Counter<'target'>;

  constructor(options: FleetMetricsOptions = {}) {
    const registers = [this.#registry];
    this.#deploys = new Counter({
      name: 'grapevine_deploys_total',
      help: 'Deploys that ended, by role, environment and final status (succeeded, failed, cancelled, partial)',
      labelNames: ['role', 'env', 'status'],
      registers,
    });
    this.#deployDuration = new Histogram({
      name: 'grapevine_deploy_duration_seconds',
      help: 'Time from a deploy\'s creation to its end, by role, environment and final status',
      labelNames: ['role', 'env', 'status'],
      buckets: DEPLOY_SECONDS,
      registers,
    });
    const hostStates = this.#hostStates;
    new Gauge({
      name: 'grapevine_hosts',
      help: 'Hosts of each role and environment (those its newest rollout targeted, and hosts caught up since) by their state in the newest deploy that named them',
      labelNames: ['role', 'env', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { role, env, state, hosts } of hostStates.counts()) this.set({ role, env, state }, hosts);
      },
    });
    this.#slotWait = new Histogram({
      name: 'grapevine_slot_wait_seconds',
      help: 'Time a host waited for a deploy slot (its waiting step to its slot step; 0 when one was free), once per host per deploy',
      labelNames: ['role', 'env'],
      buckets: SLOT_WAIT_SECONDS,
      registers,
    });
    this.#brokenReleases = new Counter({
      name: 'grapevine_releases_broken_total',
      help: 'Releases marked broken (by a failing host, the coordinator or an operator), by role',
      labelNames: ['role'],
      registers,
    });
    this.#webhookFailures = new Counter({
      name: 'grapevine_webhook_failures_total',
      help: 'Notifications a webhook target did not take after every retry, by target',
      labelNames: ['target'],
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.#registry });
  }

  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The exposition text a scrape gets. */
  exposition(): Promise<string> {
    return this.#registry.metrics();
  }

  /** The fleet event reader (coordinator/server.ts subscribes it); synchronous, so events are taken in the order published. */
  readonly read = (event: FleetEvent): void => {
    switch (event.kind) {
      case 'deploy.started':
        this.#hostStates.started(event.deploy);
        return;
      case 'host.reported': {
        const { deploy, report } = event;
        this.#hostStates.reported(deploy, report);
        const waitedMs = slotWaitMs(report);
        if (waitedMs !== undefined && this.#slotWaitsCounted.first(deploy.id, report.host)) {
          this.#slotWait.observe({ role: deploy.role, env: deploy.env }, waitedMs / 1000);
        }
        return;
      }
      case 'deploy.finished': {
        const { role, env, status, createdAt, finishedAt } = event.deploy;
        this.#deploys.inc({ role, env, status });
        this.#deployDuration.observe({ role, env, status }, Math.max(0, (finishedAt ?? event.at) - createdAt) / 1000);
        return;
      }
      case 'release.broken':
        this.#brokenReleases.inc({ role: event.role });
        return;
      case 'host.forgotten':
        this.#hostStates.forgotten(event.role, event.env, event.host);
        return;
      default:
        return;
    }
  };

  /** grapevine_coordinator_leader: 1 on the coordinator holding the lease, 0 on another (coordinator/leadership/), read at each scrape. */
  reportLeadership(read: () => { name: string; leader: boolean }): void {
    new Gauge({
      name: 'grapevine_coordinator_leader',
      help: 'Whether this coordinator holds the lease and runs the watchdog and the strategy runner (1) or follows (0)',
      labelNames: ['coordinator'],
      registers: [this.#registry],
      collect() {
        const status = read();
        this.reset();
        this.set({ coordinator: status.name }, status.leader ? 1 : 0);
      },
    });
  }

  /** A notification its webhook target never took (the notifier's failure callback). */
  webhookFailed(target: string): void {
    this.#webhookFailures.inc({ target });
  }

  /** replay() from the store's newest deploys; never rejects: a store that does not answer leaves the gauge to the live events. */
  async replayFrom(store: Pick<DeployStore, 'listDeploys'>, logger: Logger): Promise<void> {
    try {
      this.replay(await store.listDeploys({ limit: REPLAYED_DEPLOYS }));
    } catch (error) {
      logger.warn({ err: error }, 'could not read the recent deploys; the hosts gauge fills in with the next deploys');
    }
  }

  /**
   * Hosts' states from deploys stored before this coordinator started (newest first, as the
   * store lists them), so the gauge is right after a restart. Groups the live events reached
   * first are left as those say: they are newer.
   */
  replay(deploys: readonly Deploy[]): void {
    const fresh = new Map<string, boolean>();
    const isFresh = (deploy: Deploy) => {
      const key = `${deploy.role}/${deploy.env}`;
      let known = fresh.get(key);
      if (known === undefined) {
        known = !this.#hostStates.knows(deploy.role, deploy.env);
        fresh.set(key, known);
      }
      return known;
    };
    for (const deploy of [...deploys].reverse()) {
      if (!isFresh(deploy)) continue;
      this.#hostStates.started(deploy);
      for (const report of Object.values(deploy.hosts)) this.#hostStates.reported(deploy, report);
    }
  }
}
