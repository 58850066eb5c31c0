// Wires one host's agent: its Serf agent, the stream of Serf events over its RPC, and the
// deploy runner with its Redis, Docker, HAProxy and coordinator adapters.
import type { AgentConfig } from '../shared/contract/config.js';
import type { Logger } from '../shared/contract/logger.js';
import { errorMessage } from '../shared/contract/errors.js';
import { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { RoutingClient } from '../shared/coordinator-http/routing-client.js';
import { SerfAgentProcess } from '../shared/serf/serf-agent-process.js';
import { dirname, join } from 'node:path';
import { DeployRunner } from './deploy/deploy-runner.js';
import { ProcessHooks } from './deploy/hooks.js';
import { DeployJob } from './deploy/deploy-job.js';
import { RedisJobLocks } from '../shared/redis/job-lock.js';
import { DockerComposeJobs } from '../shared/docker/compose-job.js';
import { FileAppliedDeploys } from './deploy/applied-deploys.js';
import { GroupLanes } from './deploy/group-lanes.js';
import { decideDeployEvent } from './deploy/deploy-event.js';
import { streamUserEvents, type ForwardedEvent } from '../shared/serf/serf-event-stream.js';
import { roleServers } from './role-servers.js';
import { ColourRetirement, decideRetireEvent } from './retire.js';
import { connectRedis } from '../shared/redis/connection.js';
import { RedisSlotLocks } from '../shared/redis/slot-locks.js';
import { RedisFleetState } from '../shared/redis/fleet-state.js';
import { DockerComposeRuntime } from '../shared/docker/compose-runtime.js';
import { agentLoadBalancer } from './load-balancer.js';
import { Reconciler } from './reconcile.js';
import { CatchUp } from './catch-up.js';
import { SerfRejoinWatch } from './serf-rejoin.js';
import { EVENT_SCHEMA_VERSION, type Deploy, type HostReport } from '../shared/contract/schemas.js';
import type { AgentMetrics } from './metrics/agent-metrics.js';

/** Between two reconcile rounds: how long an HAProxy reload can leave a host unregistered. */
const RECONCILE_INTERVAL_MS = 30_000;

export interface RunningAgent {
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  const log = logger.child({ node: config.node });
  const roles = Object.keys(config.roles);
  const redis = await connectRedis(config.redis, log);

  const serf = new SerfAgentProcess({
    nodeName: config.node,
    serf: config.serf,
    tags: { env: config.env, roles: roles.join(','), ...(config.cluster === undefined ? {} : { cluster: config.cluster }), ...(config.zone === undefined ? {} : { zone: config.zone }) },
    logger: log.child({ component: 'serf' }),
  });

  const lb = Object.fromEntries(Object.entries(config.roles).map(([role, settings]) => [role, roleServers(settings)]));
  const runtime = new DockerComposeRuntime({ node: config.node, roles: config.roles, dockerSocket: config.dockerSocket });
  const loadBalancer = agentLoadBalancer(config, log);
  const coordinator = new CoordinatorClient({ url: config.coordinator.url, token: config.coordinator.token, caFile: config.caFile, spreadBy: config.node });
  const fleet = new RedisFleetState({ redis, host: config.node, logger: log });
  const applied = new FileAppliedDeploys(config.stateDir ?? join(dirname(config.serf.dataDir), 'agent'));
  // Only when the config asks: otherwise nothing is counted, no port is opened and prom-client is never loaded.
  const metrics: AgentMetrics | undefined = config.metrics ? new (await import('./metrics/agent-metrics.js')).AgentMetrics({ logger: log }) : undefined;
  const runner = new DeployRunner({
    node: config.node,
    ...(config.zone === undefined ? {} : { zone: config.zone }),
    lb,
    locks: new RedisSlotLocks({ redis, ttlMs: config.slotLeaseMs, logger: log, ...(metrics ? { leaseWatch: metrics } : {}) }),
    fleet,
    runtime,
    loadBalancer,
    coordinator,
    applied,
    stepDeadlineMs: config.stepDeadlineMs,
    ...(metrics ? { observer: metrics } : {}),
    hooks: new ProcessHooks(config.roles, runtime),
    logger: log,
    job: new DeployJob({
      node: config.node,
      jobs: Object.fromEntries(Object.entries(config.roles).map(([role, settings]) => [role, settings.job])),
      locks: new RedisJobLocks({ redis, ttlMs: config.slotLeaseMs }),
      container: new DockerComposeJobs({ node: config.node, roles: config.roles, dockerSocket: config.dockerSocket }),
      runtime,
      fleet,
    }),
  });

  const shutdown = new AbortController();
  const handled = new Set<string>();
  const running = new Set<Promise<unknown>>();
  const lanes = new GroupLanes();
  // A deploy this host missed runs as if its event had arrived, unless this agent ran it already
  // (a report the coordinator has not taken yet) or applied it before a restart.
  const takePart = async (deploy: Pick<Deploy, 'id' | 'role' | 'env' | 'seq'>): Promise<HostReport | null> => {
    if (handled.has(deploy.id)) return null;
    const highest = await applied.highest({ role: deploy.role, env: deploy.env }).catch(() => undefined);
    if (deploy.seq !== undefined && highest !== undefined && deploy.seq <= highest) return null;
    handled.add(deploy.id);
    return runner.run({ v: EVENT_SCHEMA_VERSION, role: deploy.role, env: deploy.env, id: deploy.id }, shutdown.signal);
  };
  // A host found serving leaves its group's out-of-service set, so the slot it counted against is free again.
  const routing = new RoutingClient(coordinator);
  const reconciler = new Reconciler({
    node: config.node,
    env: config.env,
    ...(config.cluster === undefined ? {} : { cluster: config.cluster, retiredClusters: (role: string, env: string) => routing.retiredClusters(role, env) }),
    lb,
    coordinator,
    runtime,
    loadBalancer,
    lanes,
    logger: log,
    onBackInService: ({ role, env, node }) => fleet.backInService({ role, env }, node, log),
    catchUp: new CatchUp({ node: config.node, cluster: config.cluster, coordinator, takePart }),
    ...(metrics ? { onRunning: (group: { role: string; env: string }, tag: string | null) => metrics.running(group, tag) } : {}),
  });
  const track = (work: Promise<unknown>) => {
    running.add(work);
    void work.finally(() => running.delete(work));
  };

  const retirement = new ColourRetirement({ node: config.node, lb, coordinator, runtime, loadBalancer, logger: log });
  // After any deploy of the group queued before it: a host mid-deploy finishes first.
  const onRetire = (raw: string) => {
    const decision = decideRetireEvent(raw, { env: config.env, roles }, lb);
    if (decision.kind !== 'retire') {
      if (decision.kind === 'invalid') log.warn({ event: 'retire', reason: decision.reason }, 'rejected an invalid retire event');
      else log.debug({ reason: decision.reason }, 'retire event ignored');
      return;
    }
    const { role, env } = decision.payload;
    track(lanes.run(`${role}/${env}`, () => retirement.retire(decision.payload, shutdown.signal)));
  };

  const onEvent = (forwarded: ForwardedEvent) => {
    if (forwarded.event === 'retire') return onRetire(forwarded.payload);
    const decision = decideDeployEvent(forwarded.event, forwarded.payload, { env: config.env, roles }, (id) => handled.has(id));
    if (decision.kind === 'invalid') {
      log.warn({ event: forwarded.event, reason: decision.reason }, 'rejected an invalid deploy event');
      return;
    }
    if (decision.kind === 'ignore') {
      log.debug({ reason: decision.reason }, 'event ignored');
      return;
    }
    handled.add(decision.payload.id);
    const { role, env } = decision.payload;
    const run = lanes.run(`${role}/${env}`, () => runner.run(decision.payload, shutdown.signal)).then(
      (report) => report && log.info({ deployId: decision.payload.id, state: report.state }, 'deploy finished on this host'),
      (error: unknown) => log.error({ deployId: decision.payload.id, err: errorMessage(error) }, 'deploy crashed'),
    );
    running.add(run);
    void run.finally(() => running.delete(run));
  };

  await serf.start();
  // Events Serf delivered before this subscription (a snapshot's replay at start) or while it
  // was down (the Serf agent restarting) reach no stream: the reconcile at start, and a round
  // whenever the stream comes back, catch up on the deploys they named.
  const events = await streamUserEvents({
    connection: serf.client.connection,
    onEvent,
    onResumed: () => {
      log.info('Serf event stream is back after a gap; reconciling for deploys whose events were missed');
      track(reconciler.round(shutdown.signal));
    },
    logger: log,
  }).catch(async (error: unknown) => {
    // A start that fails leaves no Serf agent behind.
    await serf.stop();
    throw error;
  });
  // After everything that can fail the start, so a failed start leaves no port open.
  const metricsServer = metrics && config.metrics ? await (await import('./metrics/metrics-server.js')).serveMetrics(metrics, config.metrics, log) : undefined;
  log.info({ env: config.env, roles, ...(config.cluster === undefined ? {} : { cluster: config.cluster }), serf: config.serf.bind }, 'agent started');
  // Converges at once after a restart (a host killed while drained), then every round
  // (registrations an HAProxy reload dropped); it never overlaps a deploy of the same group.
  const reconciling = reconciler.runPeriodically(RECONCILE_INTERVAL_MS, shutdown.signal);
  // A host back from a cut or a restart may have missed deploys: a round as soon as Serf sees the fleet again.
  const rejoin = new SerfRejoinWatch({
    self: config.node,
    members: () => serf.client.members(),
    onRejoin: (how) => {
      log.info({ how }, 'Serf (re)joined the cluster; reconciling');
      track(reconciler.round(shutdown.signal));
    },
    logger: log,
  });
  const watchingMembers = rejoin.run(shutdown.signal);

  return {
    async stop() {
      shutdown.abort(new Error('agent stopping'));
      await events.stop();
      await Promise.allSettled([...running, reconciling, watchingMembers]);
      await serf.stop();
      await metricsServer?.close();
      redis.disconnect();
    },
  };
}
