// One blue/green cycle of the benchmark on a cluster whose hosts run two colours: a blue/green
// deploy switches the group to the idle colour and `grapevine switch` moves it back, each switch
// timed by the coordinator and on HAProxy itself (the row "blue/green switch, whole group").
import type { DevCluster } from '../dev-cluster/dev-cluster.js';
import { SAMPLE_ROLE, backendFor } from '../dev-cluster/sample-app.js';
import type { Deploy } from '../shared/contract/schemas.js';
import { otherColour, type Colour } from '../shared/contract/strategy.js';
import type { SizeOptions } from './cluster-bench.js';
import { READ_INTERVAL_MS, parseSwitchOutcome, whenGroupServes, type ColourSwitchRun } from './colour-switch.js';
import { ENV, RolloutFailedError, checkDeploy, checkLoadBalancer } from './rollout-checks.js';

/** What a cycle uses of the size's bench. */
export interface CycleBench {
  cluster: DevCluster;
  options: SizeOptions;
  deadlineMs(): number;
  untilEnded(id: string): Promise<void>;
  poll(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void>;
}

/**
 * One blue/green cycle on the group: a blue/green deploy of the tag the live colour does not
 * serve, then a switch back. Each switch is timed twice: the coordinator's own figure (the
 * weight change through the relay) and, on HAProxy, from the moment the switch began until
 * every host's server of the new colour was at full weight and every other at 0.
 */
export async function colourSwitch(bench: CycleBench, run: number): Promise<ColourSwitchRun> {
  const { hosts: size, signal } = bench.options;
  const client = bench.cluster.client();
  const hosts = bench.cluster.state.hosts.filter((host) => host.env === ENV).map((host) => host.name);
  const watch = (colour: Colour, stop: AbortSignal) =>
    whenGroupServes({ hosts, colour, socketPath: bench.cluster.state.runtimeSocket, backend: backendFor(ENV), timeoutMs: bench.deadlineMs(), signal: AbortSignal.any([signal, stop]) });

  const servedTag = await groupServedTag(bench);
  const tag = servedTag === 'v2' ? 'v1' : 'v2';
  const created = await client.createDeploy({ role: SAMPLE_ROLE, env: ENV, tag, strategy: 'blue-green' });
  const to = created.colour;
  if (to === undefined) throw new RolloutFailedError(`blue/green deploy ${created.id} names no colour to start`);
  const from = otherColour(to);
  const stop = new AbortController();
  const switched = watch(to, stop.signal);
  // Read once the deploy ended; a failed deploy leaves it to the abort below.
  switched.catch(() => undefined);
  let deploy: Deploy;
  let switchSeenAt: number;
  try {
    await bench.untilEnded(created.id);
    deploy = await checkDeploy(bench.cluster, created.id, tag, size);
    switchSeenAt = await switched;
  } finally {
    stop.abort();
  }
  const outcome = parseSwitchOutcome(deploy.strategy?.outcome);
  const switchedAt = deploy.strategy?.steps.at(-1)?.startedAt;
  if (!outcome || outcome.colour !== to || switchedAt === undefined) {
    throw new RolloutFailedError(`blue/green deploy ${deploy.id} ended with no switch to ${to} on record: ${deploy.strategy?.outcome ?? 'no outcome'}`);
  }
  // The coordinator records the step when the relay answered: the switch began `ms` before.
  const switchBegan = switchedAt - outcome.ms;
  await checkLoadBalancer(bench.cluster, tag, signal, to);

  const backStop = new AbortController();
  const back = watch(from, backStop.signal);
  back.catch(() => undefined);
  let backBegan: number;
  let answer: Awaited<ReturnType<typeof client.switchColour>>;
  let backSeenAt: number;
  try {
    backBegan = Date.now();
    answer = await client.switchColour(SAMPLE_ROLE, ENV);
    backSeenAt = await back;
  } finally {
    backStop.abort();
  }
  if (answer.live !== from) throw new RolloutFailedError(`the switch back made ${answer.live} live, not ${from}`);
  await checkLoadBalancer(bench.cluster, servedTag, signal, from);
  return {
    run,
    deployId: deploy.id,
    tag,
    servedTag,
    from,
    to,
    servers: outcome.servers,
    switchMs: outcome.ms,
    switchLbMs: switchSeenAt - switchBegan,
    stagedMs: switchBegan - deploy.createdAt,
    backServers: answer.servers,
    backMs: answer.ms,
    backLbMs: backSeenAt - backBegan,
    readIntervalMs: READ_INTERVAL_MS,
  };
}

/**
 * The one tag the load balancer serves, once no deploy of the group runs: after a switch back
 * the live colour serves the tag before the group's release, which a host's catch-up may replace.
 */
async function groupServedTag(bench: CycleBench): Promise<string> {
  const { hosts: size, signal } = bench.options;
  const client = bench.cluster.client();
  let served = '';
  const settled = async () => {
    const running = await client.listDeploys({ role: SAMPLE_ROLE, env: ENV, limit: 5 });
    if (running.some((deploy) => deploy.status === 'in_progress')) return false;
    const tags = new Set<string>();
    for (let i = 0; i < 2 * size; i++) {
      const response = await fetch(bench.cluster.state.lbUrl, { signal: AbortSignal.any([AbortSignal.timeout(5_000), signal]) });
      tags.add((await response.text()).trim().split(' ')[0] ?? '');
    }
    if (tags.size !== 1) return false;
    served = [...tags][0]!;
    return true;
  };
  await bench.poll('the group to serve one tag with no deploy under way', bench.deadlineMs(), settled);
  return served;
}
