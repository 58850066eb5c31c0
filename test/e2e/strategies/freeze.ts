// A freeze parks a rolling deploy and an unfreeze resumes it (README, "Strategies":
// freeze), on the strategies cluster's 6 production hosts (k = 2): frozen as soon as the
// first hosts take slots, the hosts mid-deploy finish their own host, the others take no
// slot and the deploy stays in progress; a new deploy is refused naming the freeze; after
// the unfreeze the deploy ends succeeded on all six. Forcing a deploy past a freeze is
// checked in test/unit/coordinator-freeze.test.ts: here it would supersede the parked one.
import { expect, it } from 'vitest';
import { redisKeys } from '../../../shared/contract/redis-keys.js';
import { CoordinatorClient } from '../../../shared/coordinator-http/coordinator-client.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { backendFor } from '../../../dev-cluster/sample-app.js';
import { PRODUCTION, readyServers, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { pause } from '../../../shared/contract/waiting.js';
import { Redis } from 'ioredis';

const ROLE = 'web';
const ENV = 'production';
/** How long the parked deploy is watched for a slot taken: several of a waiting host's wake-ups would have come by then. */
/** How often the parked watch looks at Redis and the deploy. */
const WATCH_PACE_MS = 200;
const PARKED_WATCH_MS = 4_000;

export function freezeChecks(cluster: () => TestCluster): void {
  it('parks a rolling deploy: hosts mid-deploy finish, no other host takes a slot, a new deploy is refused; unfreeze resumes it to succeeded on all six', async () => {
    const state = cluster().state();
    const client = new CoordinatorClient({ url: state.coordinatorUrl, token: state.token, ...(state.caFile ? { caFile: state.caFile } : {}) });
    const redis = new Redis(state.redisUrl, { maxRetriesPerRequest: 1 });
    let frozen = false;
    try {
      // A fresh cluster runs nothing until its first deploy: the part starts from every host serving.
      const ready = await readyServers(state.runtimeSocket, backendFor(ENV));
      if (ready === undefined || ready.size < PRODUCTION.length) {
        const deployed = await cluster().deploy(ROLE, ENV, 'v1');
        expect(deployed.exitCode, deployed.stderr).toBe(0);
      }
      await cluster().untilAllInService(ENV);
      const current = await client.listDeploys({ role: ROLE, env: ENV, limit: 20 });
      const tag = current.find((d) => d.status === 'succeeded')?.tag === 'v2' ? 'v1' : 'v2';

      const started = await client.createDeploy({ role: ROLE, env: ENV, tag });
      // Every host seen holding a slot (a slot key's token starts with its holder's name).
      const holders = new Set<string>();
      const groupKeys = async () => {
        const keys = await cluster().groupKeys(ENV);
        const tokens = keys.slots.length === 0 ? [] : await redis.mget(...keys.slots);
        for (const token of tokens) if (token) holders.add(token.split('/')[0]!);
        return keys;
      };
      const firstSlot = await until('the first host to take a slot', async () => ((await groupKeys()).slots.length > 0 ? Date.now() : undefined), {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      const mark = await client.freeze(ROLE, ENV, { reason: 'e2e: release train' });
      frozen = true;
      console.log(`freeze: frozen ${Date.now() - firstSlot} ms after the first slot was taken`);

      // The hosts mid-deploy finish their own host and release; nothing else takes a slot. A host
      // releases its slot before its last report lands, so the wait ends when every host seen
      // holding a slot has reported its end.
      const midDeploy = await until('the hosts mid-deploy to finish', async () => {
        const keys = await groupKeys();
        if (keys.slots.length > 0 || keys.out.length > 0) return undefined;
        const deploy = await client.getDeploy(started.id);
        const succeeded = Object.values(deploy.hosts).filter((h) => h.state === 'succeeded').map((h) => h.host);
        return [...holders].every((host) => succeeded.includes(host)) ? succeeded : undefined;
      }, { timeoutMs: 90_000, intervalMs: 100 });
      expect(midDeploy.sort()).toEqual([...holders].sort());
      expect(midDeploy.length).toBeGreaterThanOrEqual(1);
      expect(midDeploy.length).toBeLessThan(PRODUCTION.length);

      const watchedUntil = Date.now() + PARKED_WATCH_MS;
      let looks = 0;
      for (; Date.now() < watchedUntil; looks++) {
        expect((await cluster().groupKeys(ENV)).slots).toEqual([]);
        const deploy = await client.getDeploy(started.id);
        expect(deploy.status).toBe('in_progress');
        expect(Object.values(deploy.hosts).filter((h) => h.state === 'succeeded').map((h) => h.host).sort()).toEqual([...midDeploy].sort());
        // Pacing of a bounded watch that must see nothing change, not a wait for a condition.
        await pause(WATCH_PACE_MS);
      }
      // The waiting hosts are held aside in Redis, none in the waiters queue.
      const held = await redis.zcard(redisKeys.held(ROLE, ENV));
      expect(held).toBe(PRODUCTION.length - midDeploy.length);
      expect(await redis.zcard(redisKeys.waiters(ROLE, ENV))).toBe(0);
      console.log(`freeze: ${midDeploy.length} hosts finished mid-deploy (${midDeploy.sort().join(', ')}); ${held} held, no slot taken over ${looks} looks in ${PARKED_WATCH_MS} ms`);

      const refused = await cluster().cli(['deploy', ROLE, '--env', ENV, '--tag', tag === 'v2' ? 'v1' : 'v2']);
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toContain(`${ROLE}/${ENV} is frozen: "e2e: release train" (by ${mark.by}, until unfrozen)`);
      const status = await cluster().cli(['status', started.id]);
      expect(status.stdout).toContain(`FROZEN "e2e: release train" (by ${mark.by}, until unfrozen)`);

      const unfrozeAt = Date.now();
      const unfrozen = await cluster().cli(['unfreeze', ROLE, '--env', ENV]);
      expect(unfrozen.exitCode, unfrozen.stderr).toBe(0);
      frozen = false;
      expect(unfrozen.stdout).toContain(`deploys resumed with their frozen time back: ${started.id}`);
      const ended: Deploy = await until('the resumed deploy to end', async () => {
        const deploy = await client.getDeploy(started.id);
        return deploy.status === 'in_progress' ? undefined : deploy;
      }, { timeoutMs: 120_000, intervalMs: 250 });
      console.log(`freeze: the deploy ended ${ended.status} ${Date.now() - unfrozeAt} ms after the unfreeze; it spent ${ended.frozenMs} ms frozen`);
      expect(ended.status).toBe('succeeded');
      expect(Object.values(ended.hosts).map((h) => [h.host, h.state]).sort()).toEqual(PRODUCTION.map((host) => [host, 'succeeded']));
      expect(ended.frozenMs).toBeGreaterThan(PARKED_WATCH_MS);
      await cluster().untilAllInService(ENV);
    } finally {
      if (frozen) await client.unfreeze(ROLE, ENV).catch(() => undefined);
      redis.disconnect();
    }
  }, 300_000);
}
