// The coordinator's first deploys, before the measured one. A coordinator serves deploy after
// deploy for as long as it runs, and V8 optimises the paths a deploy takes (HTTP, routing,
// validation, the stores, the event readers) as they run: a fresh coordinator driven one
// host at a time spent 3.8 ms of CPU a host on its first 1 000-host deploy, then 2.7, 2.5,
// 2.2, 1.9 and 1.7 ms on the five after (each host: its view, three reports). A fleet's
// coordinator lives through many deploys; the bench measures one that has served five, of
// WARM_UP_HOSTS hosts each, in a group of their own (no simulated host is in it), each host
// sending what an agent sends: its view, then its reports (out of service, being checked, its end).
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { pollUntil } from '../../shared/contract/waiting.js';
import { FLEET_REGISTRY, FLEET_ROLE, FLEET_WARM_UP_ENV } from './fleet-messages.js';

/** Hosts of a warm-up deploy at most. */
export const WARM_UP_HOSTS = 1_000;
/** Hosts in flight at once, as a burst of agents would be. */
const CONCURRENCY = 32;
const END_TIMEOUT_MS = 60_000;

export interface WarmUp {
  /** Every coordinator: each host asks first the one its name picks, as an agent does. */
  urls: readonly string[];
  operator: CoordinatorClient;
  /** One deploy per tag, in turn; each is published first. */
  tags: readonly string[];
  hosts: ReadonlyArray<{ name: string; token: string }>;
  signal: AbortSignal;
}

/** Runs the warm-up deploys to their ends, one after the other; their time in ms. */
export async function warmUpCoordinator(warmUp: WarmUp): Promise<number> {
  const startedAt = Date.now();
  for (const tag of warmUp.tags) {
    await warmUp.operator.publishRelease({ role: FLEET_ROLE, tag, image: `${FLEET_REGISTRY}/${FLEET_ROLE}:${tag}` });
    await warmUpDeploy(warmUp, tag);
  }
  return Date.now() - startedAt;
}

async function warmUpDeploy({ urls, operator, hosts, signal }: WarmUp, tag: string): Promise<void> {
  const deploy = await operator.createDeploy({ role: FLEET_ROLE, env: FLEET_WARM_UP_ENV, tag });
  let remaining = hosts.length;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, hosts.length) }, async () => {
      for (let i = next++; i < hosts.length && !signal.aborted; i = next++) {
        const { name, token } = hosts[i]!;
        const client = new CoordinatorClient({ url: urls, token, spreadBy: name });
        await client.getHostView(deploy.id, name);
        const at = Date.now();
        const held = { host: name, slot: 1 + (i % (deploy.slots ?? 1)), epoch: i + 1, counted: hosts.length };
        const steps: HostReport['steps'] = (['received', 'waiting', 'slot', 'drain', 'pull'] as const).map((step) => ({ step, at }));
        await client.report(deploy.id, { ...held, state: 'deploying', steps: [...steps] });
        steps.push({ step: 'up', at }, { step: 'health', at });
        await client.report(deploy.id, { ...held, state: 'deploying', steps: [...steps] });
        steps.push({ step: 'register', at }, { step: 'release', at });
        remaining -= 1;
        await client.report(deploy.id, { ...held, state: 'succeeded', steps, remaining, endedAt: Date.now() });
        // Closed now, not by the coordinator's keep-alive timeout during the measured deploy.
        client.close();
      }
    }),
  );
  await pollUntil(`the warm-up deploy ${deploy.id} to end`, async () => ((await operator.getSummary(deploy.id)).status === 'in_progress' ? undefined : true), {
    timeoutMs: END_TIMEOUT_MS,
    intervalMs: 100,
    signal,
  });
}
