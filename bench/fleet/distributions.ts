// The fleet simulation's random draws: a seeded generator (so a run's Ts and delays can be
// drawn again), a bounded lognormal for each host's work T, and a model of Serf's gossip
// that gives each host the delay after which the deploy event reaches it.

export type Random = () => number;

/** mulberry32: small, fast and good enough to draw benchmark inputs; the same seed gives the same draws. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A standard normal draw (Box–Muller); the first uniform is kept off 0 so the log is finite. */
export function normalDraw(random: Random): number {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export interface LognormalSpec {
  medianMs: number;
  /** The spread of ln T. */
  sigma: number;
  minMs: number;
  maxMs: number;
}

/**
 * Per-host work T: lognormal around the 2.1 s measured per host at 12 real hosts. The slowest
 * of those 12 took 1.13 × the median, which a sigma of 0.07 gives for the largest of 12
 * draws; bounded to [0.5, 2] × the median so one draw cannot stretch a run without end.
 */
export const MEASURED_T: LognormalSpec = { medianMs: 2_100, sigma: 0.07, minMs: 1_050, maxMs: 4_200 };

export function drawLognormal(spec: LognormalSpec, random: Random): number {
  const value = spec.medianMs * Math.exp(spec.sigma * normalDraw(random));
  return Math.min(spec.maxMs, Math.max(spec.minMs, value));
}

/**
 * Push gossip as memberlist (under Serf) does it: the coordinator's agent, then every agent
 * that has the event, sends it on at each of its gossip ticks (every `intervalMs`, at a
 * phase of its own) to `fanout` random members, until it has sent it `retransmitMult ×
 * ceil(log10(n + 1))` times (memberlist's retransmit limit); a send arrives `linkMs` later.
 */
export interface GossipModel {
  intervalMs: number;
  fanout: number;
  retransmitMult: number;
  linkMs: number;
}

/**
 * Serf's LAN defaults (200 ms, 3 members per tick, retransmit 4), with a 1 ms link: medians of
 * 5, 12 and 20 hosts near the measured 54, 194 and 429 ms (README Performance, DESIGN.md),
 * whose own spread (other load on the same cores) is larger than the model's error.
 */
export const SERF_GOSSIP: GossipModel = { intervalMs: 200, fanout: 3, retransmitMult: 4, linkMs: 1 };

/** Serf's push/pull sync, every 30 s with a random member, hands a host the recent events gossip missed. */
export const PUSH_PULL_MS = 30_000;

/**
 * Each host's delay (ms after the event is fired) until the event first reaches it. A host
 * the pushes never reached (rare: about e^-sends each) gets it from push/pull, at a uniform
 * draw within one push/pull period after the last pushed arrival.
 */
export function gossipDelays(hosts: number, model: GossipModel, random: Random): number[] {
  const delays = pushedDelays(hosts, model, random);
  const reached = delays.filter(Number.isFinite);
  const last = reached.length === 0 ? 0 : Math.max(...reached);
  return delays.map((delay) => (Number.isFinite(delay) ? delay : last + random() * PUSH_PULL_MS));
}

/** The pushes alone: Infinity for a host they never reached. */
export function pushedDelays(hosts: number, model: GossipModel, random: Random): number[] {
  const delays = new Array<number>(hosts).fill(Number.POSITIVE_INFINITY);
  const sends = model.retransmitMult * Math.ceil(Math.log10(hosts + 1));
  const ticks = Math.ceil(sends / model.fanout);
  const arrivals = new MinHeap();
  // The source is node `hosts` (the coordinator's agent), not one of the hosts.
  const spread = (node: number, at: number) => {
    const phase = random() * model.intervalMs;
    const firstTick = at + ((((phase - at) % model.intervalMs) + model.intervalMs) % model.intervalMs);
    let left = sends;
    for (let tick = 0; tick < ticks && left > 0; tick += 1) {
      for (let i = 0; i < model.fanout && left > 0; i += 1, left -= 1) {
        let target = Math.floor(random() * hosts);
        if (target === node) target = (target + 1) % hosts;
        arrivals.push(firstTick + tick * model.intervalMs + model.linkMs, target);
      }
    }
  };
  spread(hosts, 0);
  // Bounded: every host is informed once and pushes at most `sends` arrivals.
  while (arrivals.size > 0) {
    const [at, node] = arrivals.pop();
    if (delays[node] !== Number.POSITIVE_INFINITY) continue;
    delays[node] = at;
    spread(node, at);
  }
  return delays;
}

/** A binary min-heap of (time, value) pairs, the simulations' event queue. */
export class MinHeap {
  private readonly times: number[] = [];
  private readonly values: number[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, value: number): void {
    const { times, values } = this;
    let i = times.length;
    times.push(time);
    values.push(value);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((times[parent] as number) <= time) break;
      times[i] = times[parent] as number;
      values[i] = values[parent] as number;
      i = parent;
    }
    times[i] = time;
    values[i] = value;
  }

  pop(): [number, number] {
    const { times, values } = this;
    const top: [number, number] = [times[0] as number, values[0] as number];
    const lastTime = times.pop() as number;
    const lastValue = values.pop() as number;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && (times[right] as number) < (times[left] as number) ? right : left;
        if ((times[child] as number) >= lastTime) break;
        times[i] = times[child] as number;
        values[i] = values[child] as number;
        i = child;
      }
      times[i] = lastTime;
      values[i] = lastValue;
    }
    return top;
  }
}
