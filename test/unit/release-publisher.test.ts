// Publishing through the coordinator's API with a stand-in registry: which images are
// refused before the registry is asked, and what a release keeps once published.
import { beforeEach, describe, expect, it } from 'vitest';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, REGISTRY } from '../fixtures/coordinator-harness.js';
import { pinnedImage } from '../fixtures/fake-image-registry.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet() });
});

const publish = (body: Record<string, unknown>) => coordinator.call('POST', '/v1/releases', body);

describe('publishing a release', () => {
  it('refuses an image of a registry not allowed with 400 registry_not_allowed, naming the image and the allowed registries, and stores nothing', async () => {
    const answer = await publish({ role: 'web', tag: 'v1', image: 'evil.example.com/web:v1' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toEqual({
      code: 'registry_not_allowed',
      message: `image evil.example.com/web:v1 is not from an allowed registry (evil.example.com); images may come from: ${REGISTRY}, registry.internal:5000`,
    });
    // Docker Hub, which a reference without a registry host names.
    expect((await publish({ role: 'web', tag: 'v1', image: 'web:v1' })).body.error.code).toBe('registry_not_allowed');
    expect(coordinator.registry.asked).toEqual([]);
    expect(await store.listReleases('web')).toEqual([]);
  });

  it('refuses a malformed image with 400 invalid_image naming it, and stores nothing', async () => {
    const answer = await publish({ role: 'web', tag: 'v1', image: `${REGISTRY}/web:v1@sha256:abc` });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_input');
    const badComponent = await publish({ role: 'web', tag: 'v1', image: `${REGISTRY}/web__x--y_.z:v1` });
    expect(badComponent.status).toBe(400);
    expect(badComponent.body.error).toMatchObject({ code: 'invalid_image', message: expect.stringContaining(`image "${REGISTRY}/web__x--y_.z:v1" is not an image reference`) });
    expect(await store.listReleases('web')).toEqual([]);
  });

  it('answers 404 image_not_found for a tag the registry does not have, and stores nothing', async () => {
    coordinator.registry.missing.add(`${REGISTRY}/web:v9`);
    const answer = await publish({ role: 'web', tag: 'v9' });
    expect(answer.status).toBe(404);
    expect(answer.body.error).toMatchObject({ code: 'image_not_found', message: expect.stringContaining(`${REGISTRY}/web:v9`) });
    expect(await store.listReleases('web')).toEqual([]);
  });

  it('keeps a published release as it was: a republish answers it without asking the registry again', async () => {
    const v1 = await coordinator.publish('web', 'v1');
    expect(v1).toMatchObject({ image: pinnedImage(`${REGISTRY}/web:v1`), publishedImage: `${REGISTRY}/web:v1` });
    expect(v1.image).toBe(`${REGISTRY}/web@${v1.digest}`);
    expect(await publish({ role: 'web', tag: 'v1' })).toEqual({ status: 200, body: v1 });
    expect(coordinator.registry.asked).toEqual([`${REGISTRY}/web:v1`]);
  });

  it('publishes an image named by its digest as it is, once the registry has it', async () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const release = await coordinator.publish('web', 'v2', `registry.internal:5000/team/web@${digest}`);
    expect(release).toMatchObject({ image: `registry.internal:5000/team/web@${digest}`, digest });
    expect(coordinator.registry.asked).toEqual([`registry.internal:5000/team/web:${digest}`]);
  });
});
