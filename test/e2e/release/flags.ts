// Feature flags reaching a running application (README, "Feature flags"): the sample app's
// v4-flags tag on every production host reads `new-banner` from the coordinator over OFREP,
// through the OpenFeature server SDK, for each request. Through the load balancer an operator
// sees the flag turned on, killed (every answer off within 1 s of `grapevine flag kill`
// exiting) and on for a list of users only. The part leaves production on v4-flags unless
// given a tag to deploy back (FlagChecksOptions.restoreTag).
import { statSync } from 'node:fs';
import { expect, it } from 'vitest';
import { flagsReaderTokenFile } from '../../../dev-cluster/flags-reader.js';
import { pause } from '../../../shared/contract/waiting.js';
import { answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

const FLAG = 'new-banner';
const TAG = 'v4-flags';
/** The bound the kill switch is held to: the provider asks on every request, so this is the app's own round trip and room. */
const KILL_BOUND_MS = 1_000;
/** Sampling of the kill switch: one request every 20 ms, for at most 10 s after the kill. */
const SAMPLE_EVERY_MS = 20;
const SAMPLE_FOR_MS = 10_000;
const REQUEST_TIMEOUT_MS = 2_000;

interface Answer {
  sentAt: number;
  answeredAt: number;
  /** `STATUS BODY`, as lbAnswers gives it; `error ...` when the request failed. */
  text: string;
}

export interface FlagChecksOptions {
  /** The production hosts whose answers a request without routing headers reaches; all of them unless given. */
  hosts?: string[];
  /** A tag to deploy to production at the end (e.g. `v1`), for parts after this one that expect `TAG HOST` answers. */
  restoreTag?: string;
}

export function flagChecks(cluster: () => TestCluster, options: FlagChecksOptions = {}): void {
  const hosts = () => options.hosts ?? cluster().hostsOf('production');
  const lbUrl = () => cluster().state().lbUrl;
  const answerOf = (host: string, banner: 'on' | 'off') => `200 ${TAG} ${host} banner=${banner}`;
  /** Asks the load balancer twice per host, so that each host answers at least once. */
  const answers = async (query = '', headers: Record<string, string> = {}): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < 2 * hosts().length; i++) seen.add((await ask(`${lbUrl()}/${query}`, headers)).text);
    return seen;
  };
  const everyHost = (banner: 'on' | 'off') => new Set(hosts().map((host) => answerOf(host, banner)));
  const flag = async (...args: string[]) => {
    const result = await cluster().cli(['flag', ...args, FLAG, '--env', 'production']);
    expect(result.exitCode, result.stderr).toBe(0);
  };

  it(`deploys ${TAG} to the production hosts, which show ${FLAG} off while no such flag exists`, async () => {
    const deployed = await cluster().deploy('web', 'production', TAG);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    await cluster().untilAllInService('production');
    // The app's credential, minted by `dev up`: a file only its owner reads, mounted into each host's app.
    expect(statSync(flagsReaderTokenFile(cluster().state())).mode & 0o777).toBe(0o600);
    const tokens = await cluster().cli(['token', 'list', '--json']);
    expect(tokens.exitCode, tokens.stderr).toBe(0);
    expect((JSON.parse(tokens.stdout) as Array<{ scope: string; name: string }>).filter((c) => c.scope === 'flags-reader').map((c) => c.name)).toEqual(['sample-app-flags']);
    // FLAG_NOT_FOUND from the coordinator: the SDK's default, never an error.
    expect(await answers()).toEqual(everyHost('off'));
  });

  it(`shows ${FLAG} on through the load balancer once it is set on`, async () => {
    await flag('set', '--on');
    expect(await answers()).toEqual(everyHost('on'));
  });

  it(`kill switch: every answer shows ${FLAG} off within ${KILL_BOUND_MS} ms of \`flag kill\` exiting`, async () => {
    await flag('set', '--on');
    const sampled: Answer[] = [];
    let killedAt: number | undefined;
    let killStartedAt = 0;
    let stopped = false;
    const consecutiveOff = 2 * hosts().length;
    // Sampling starts before the kill, so the switch from on to off is seen happen.
    const sampling = (async () => {
      for (let i = 0; i < (SAMPLE_FOR_MS * 2) / SAMPLE_EVERY_MS && !stopped; i++) {
        const next = Date.now() + SAMPLE_EVERY_MS;
        sampled.push(await ask(lbUrl()));
        if (killedAt !== undefined) {
          const after = sampled.filter((answer) => answer.sentAt >= killedAt!);
          if (after.length >= consecutiveOff && after.slice(-consecutiveOff).every((answer) => answer.text.endsWith('banner=off'))) return;
          if (Date.now() - killedAt > SAMPLE_FOR_MS) return;
        }
        await pause(Math.max(0, next - Date.now()));
      }
    })();
    try {
      await until('the sampler to see the flag on', () => (sampled.some((answer) => answer.text.endsWith('banner=on')) ? true : undefined), {
        timeoutMs: SAMPLE_FOR_MS,
        intervalMs: SAMPLE_EVERY_MS,
      });
      killStartedAt = Date.now();
      const kill = await cluster().cli(['flag', 'kill', FLAG, '--env', 'production', '--reason', 'e2e kill switch']);
      killedAt = Date.now();
      expect(kill.exitCode, kill.stderr).toBe(0);
    } finally {
      // A failure before the kill ends the sampler too.
      if (killedAt === undefined) stopped = true;
      await sampling;
    }

    const killed = killedAt;
    const firstOff = sampled.find((answer) => answer.text.endsWith('banner=off'));
    const lastOn = sampled.findLast((answer) => answer.text.endsWith('banner=on'));
    const firstOffMs = firstOff === undefined ? undefined : firstOff.answeredAt - killed;
    const lastOnMs = lastOn === undefined ? undefined : lastOn.answeredAt - killed;
    console.log(
      `flag kill -> sample app: first answer off ${firstOffMs} ms, last answer on ${lastOnMs} ms after \`grapevine flag kill\` exited ` +
        `(negative: before it; the command ran ${killed - killStartedAt} ms; ${sampled.length} answers through the load balancer, one every ${SAMPLE_EVERY_MS} ms; OFREP's server provider evaluates on every request: there is no polling interval)`,
    );
    expect(sampled.filter((answer) => !answer.text.startsWith('200 '))).toEqual([]);
    expect(lastOn, 'an answer showed the flag on before the kill').toBeDefined();
    expect(firstOffMs).toBeDefined();
    expect(firstOffMs!).toBeLessThanOrEqual(KILL_BOUND_MS);
    expect(lastOnMs!).toBeLessThanOrEqual(KILL_BOUND_MS);
    // Every answer to a request sent after the kill's exit: off, from every host.
    const after = new Set(sampled.filter((answer) => answer.sentAt >= killed).map((answer) => answer.text));
    expect(after).toEqual(everyHost('off'));
  });

  it(`a user list: ${FLAG} on for ?user=alice and X-User: alice, off for bob and for anonymous requests`, async () => {
    await flag('set', '--on', '--users', 'alice');
    expect(await answers('?user=alice')).toEqual(everyHost('on'));
    expect(await answers('', { 'X-User': 'alice' })).toEqual(everyHost('on'));
    expect(await answers('?user=bob')).toEqual(everyHost('off'));
    expect(await answers()).toEqual(everyHost('off'));
  });

  if (options.restoreTag !== undefined) {
    const tag = options.restoreTag;
    it(`deploys ${tag} back to the production hosts`, async () => {
      const deployed = await cluster().deploy('web', 'production', tag);
      expect(deployed.exitCode, deployed.stderr).toBe(0);
      await cluster().untilAllInService('production');
      expect(await cluster().lbAnswers(2 * hosts().length)).toEqual(answersFrom(tag, hosts()));
    });
  }
}

async function ask(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const sentAt = Date.now();
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = `${response.status} ${(await response.text()).trim()}`;
    return { sentAt, answeredAt: Date.now(), text };
  } catch (error) {
    return { sentAt, answeredAt: Date.now(), text: `error ${error instanceof Error ? error.message : String(error)}` };
  }
}
