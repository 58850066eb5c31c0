// What the coordinator logs on a deploy's path names the deploy: creation, reports, a
// failure and the broken release, the watchdog, promotion and the deploy's end.
import { pino } from 'pino';
import { UnreachableError } from '../../shared/contract/errors.js';
import { expect, it } from 'vitest';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

it('every log line of a deploy carries its deploy id', async () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const store = new InMemoryDeployStore();
  const fleet = new RecordingFleet();
  const members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3']);
  members.add('staging', ['s1', 's2']);
  const coordinator = new CoordinatorHarness({ store, fleet, members, logger, promote: { web: { from: 'staging', to: 'production' } } });
  await coordinator.publish('web', 'v1');
  await coordinator.publish('web', 'v2');

  const staging = await coordinator.deploy('web', 'staging', 'v1');
  await coordinator.report(staging.id, 's1', 'succeeded', { counted: 2, remaining: 1 });
  await coordinator.report(staging.id, 's2', 'succeeded', { counted: 2, remaining: 0 });

  const production = await coordinator.deploy('web', 'production', 'v2');
  const group = { role: 'web', env: 'production' };
  await fleet.initRemaining(group, production.id, 3);
  const remaining = await fleet.finishHost(group, production.id, 'h1');
  await coordinator.report(production.id, 'h1', 'failed', { counted: 3, remaining, error: 'health: exited (1)' });
  coordinator.members.setStatus('h2', 'failed');
  coordinator.members.setStatus('h3', 'left');
  await coordinator.watchdog(60_000).tick();
  store.failures.set('applyReport', new UnreachableError('storing the report: Redis did not answer'));
  const refused = await coordinator.call('POST', `/v1/deploys/${production.id}/reports`, coordinator.hostReport('h2', 'waiting'));
  expect(refused.status).toBe(502);
  store.failures.clear();
  coordinator.events.failWith = 'serf agent not running';
  await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' });

  const messages = lines.map((line) => line.msg);
  const expectedMessages = [
    'deploy created',
    'host report',
    'host failed; release marked broken',
    'host lost; counted out of the deploy',
    'deploy finished',
    'deploy event not fired',
    'host report not taken; its agent sends it again',
  ];
  for (const expected of expectedMessages) {
    expect(messages).toContain(expected);
  }
  expect(messages.some((msg) => String(msg).startsWith('promoted web:v1 from staging to production'))).toBe(true);
  const publishes = lines.filter((line) => line.msg === 'release published');
  expect(publishes).toHaveLength(2);
  const unnamed = lines.filter((line) => line.msg !== 'release published' && typeof line.deployId !== 'string');
  expect(unnamed).toEqual([]);
});
