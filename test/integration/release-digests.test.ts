// Publishing against the integration run's real registry (docker-compose.test.yml) with the
// coordinator's releases in a real Redis: the digest a release gets is the one the registry
// holds, a re-pushed tag does not change it, and nothing is stored when publishing fails.
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AllowedRegistry } from '../../shared/contract/allowed-registries.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { MANIFEST_MEDIA_TYPES, RegistryHttpClient } from '../../shared/registry/registry-client.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { redisForThisFile } from '../fixtures/redis-server.js';
import { pushImage, removeLocalImages, type PushedImage } from '../fixtures/registry-images.js';
import { freePort } from '../fixtures/server-process.js';
import { testRegistry } from '../fixtures/test-infra.js';

const testRedis = redisForThisFile();
const logger = pino({ level: 'silent' });
/** The role and repository of this file, apart from what other files push to the same registry. */
const ROLE = 'gvdigest';
const pushed: PushedImage[] = [];
let redis: Redis;
let registry: string;

const push = async (image: string, label: string): Promise<PushedImage> => {
  const result = await pushImage(image, `${label}-${process.pid}`);
  pushed.push(result);
  return result;
};

function coordinatorFor(allowed: AllowedRegistry[], defaultRegistry = allowed[0]!.address, timeoutMs?: number): CoordinatorHarness {
  return new CoordinatorHarness({
    store: new RedisDeployStore({ redis, logger }),
    fleet: new RedisFleetState({ redis, logger, host: 'coordinator' }),
    logger,
    images: { registry: new RegistryHttpClient(timeoutMs === undefined ? {} : { timeoutMs }), defaultRegistry, allowed },
  });
}

const stored = (role: string, tag: string) => new RedisDeployStore({ redis, logger }).getRelease(role, tag);

beforeAll(() => {
  registry = testRegistry();
});

beforeEach(async () => {
  redis = testRedis.client;
  await redis.flushdb();
});

afterAll(async () => {
  await removeLocalImages(pushed);
});

describe('publishing pins the release to the digest the registry holds', () => {
  it('resolves the tag to the digest of what was pushed, and hosts get REGISTRY/NAME@DIGEST', async () => {
    const v1 = await push(`${registry}/${ROLE}:v1`, 'one');
    const coordinator = coordinatorFor([{ address: registry, plainHttp: true }]);

    const answer = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'v1' });

    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ role: ROLE, tag: 'v1', publishedImage: v1.image, digest: v1.digest, image: `${registry}/${ROLE}@${v1.digest}` });
    expect(await stored(ROLE, 'v1')).toEqual(answer.body);
    // The digest is the sha256 of the manifest's bytes the registry serves, what a client without the header computes.
    const manifest = await fetch(`http://${registry}/v2/${ROLE}/manifests/v1`, { headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') } });
    expect(`sha256:${createHash('sha256').update(Buffer.from(await manifest.arrayBuffer())).digest('hex')}`).toBe(v1.digest);
  });

  it('keeps the published digest when the tag is pushed again with other content', async () => {
    const first = await push(`${registry}/team/web:v2`, 'first');
    const coordinator = coordinatorFor([{ address: `${registry}/team`, plainHttp: true }]);
    const published = await coordinator.publish('web', 'v2', first.image);

    const second = await push(first.image, 'second');
    expect(second.digest).not.toBe(first.digest);

    const again = await coordinator.call('POST', '/v1/releases', { role: 'web', tag: 'v2', image: first.image });
    expect(again).toEqual({ status: 200, body: published });
    expect((await stored('web', 'v2'))?.image).toBe(`${registry}/team/web@${first.digest}`);
    // The same content under a new tag is a new release, of what the tag names now.
    expect((await coordinator.publish('web', 'v2b', first.image)).digest).toBe(second.digest);
  });

  it('publishes an image named by its digest when the registry has it, and answers 404 for one it has not', async () => {
    const v3 = await push(`${registry}/${ROLE}:v3`, 'three');
    const coordinator = coordinatorFor([{ address: registry, plainHttp: true }]);
    const byDigest = `${registry}/${ROLE}@${v3.digest}`;
    expect(await coordinator.publish(ROLE, 'v3', byDigest)).toMatchObject({ image: byDigest, digest: v3.digest, publishedImage: byDigest });

    const unknown = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'v4', image: `${registry}/${ROLE}@sha256:${'0'.repeat(64)}` });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('image_not_found');
    const missingTag = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'never-pushed' });
    expect(missingTag.status).toBe(404);
    expect(missingTag.body.error.message).toContain(`${registry}/${ROLE}:never-pushed`);
    expect(await stored(ROLE, 'v4')).toBeUndefined();
    expect(await stored(ROLE, 'never-pushed')).toBeUndefined();
  });

  it('refuses an image outside the allowed registries with 400 and stores nothing', async () => {
    const coordinator = coordinatorFor([{ address: `${registry}/team`, plainHttp: true }]);
    const answer = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'v1', image: `${registry}/${ROLE}:v1` });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({
      code: 'registry_not_allowed',
      message: `image ${registry}/${ROLE}:v1 is not from an allowed registry (${registry}); images may come from: ${registry}/team`,
    });
    expect(await stored(ROLE, 'v1')).toBeUndefined();
  });
});

describe('a registry that does not answer', () => {
  it('answers 502 naming the registry when nothing listens, and stores nothing', async () => {
    const gone = `127.0.0.1:${await freePort()}`;
    const coordinator = coordinatorFor([{ address: gone, plainHttp: true }]);
    const answer = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'v1' });
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe('unreachable');
    expect(answer.body.error.message).toContain(`cannot resolve ${gone}/${ROLE}:v1 at http://${gone}: cannot reach the registry over http`);
    expect(await stored(ROLE, 'v1')).toBeUndefined();
  });

  it('answers 502 when the registry accepts the connection but never answers within the request bound', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const coordinator = coordinatorFor([{ address, plainHttp: true }], address, 300);
      const answer = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'v1' });
      expect(answer.status).toBe(502);
      expect(answer.body.error.message).toContain('the registry did not answer within 0.3 s');
      expect(await stored(ROLE, 'v1')).toBeUndefined();
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('answers 502 with a hint when a plain-http registry is not marked plainHttp', async () => {
    const coordinator = coordinatorFor([{ address: registry, plainHttp: false }]);
    const answer = await coordinator.call('POST', '/v1/releases', { role: ROLE, tag: 'v1' });
    expect(answer.status).toBe(502);
    expect(answer.body.error.message).toContain(`at https://${registry}: cannot reach the registry over https`);
    expect(answer.body.error.message).toContain('needs plainHttp: true');
    expect(await stored(ROLE, 'v1')).toBeUndefined();
  });
});
