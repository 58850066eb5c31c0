// `--wait` rides out a coordinator that is briefly unreachable (a restart, a Redis failover)
// and gives up with the coordinator's own error once it stays away; a refusal ends it at once.
import { expect, it } from 'vitest';
import { NotFoundError, UnreachableError } from '../../shared/contract/errors.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { PolledDeployFeed } from '../../cli/watch/deploy-feed.js';

const deploy = (status: Deploy['status']): Deploy => ({ id: 'd-feed0001', role: 'web', env: 'production', tag: 'v2', image: 'r/web:v2', status, createdAt: 1, hosts: {} }) as Deploy;

/** A reader that answers with each entry in turn: a record, or an error to throw. */
function reader(answers: Array<Deploy | Error>) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    getDeploy: async () => {
      const answer = answers[Math.min(calls++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

it('waits through a few unreachable answers and ends on the ended record', async () => {
  const source = reader([deploy('in_progress'), new UnreachableError('coordinator down'), new UnreachableError('coordinator down'), deploy('succeeded')]);
  const seen: string[] = [];
  const final = await new PolledDeployFeed(source, 1).follow('d-feed0001', (d) => seen.push(d.status), { timeoutMs: 5_000 });
  expect(final.status).toBe('succeeded');
  expect(seen).toEqual(['in_progress', 'succeeded']);
  expect(source.calls).toBe(4);
});

it('gives up with the coordinator\'s error once it stays unreachable past the outage window', async () => {
  let now = 0;
  const source = reader([deploy('in_progress'), new UnreachableError('coordinator at http://a:7700 is unreachable')]);
  const feed = new PolledDeployFeed({ getDeploy: async () => { now += 1_000; return source.getDeploy(); } }, 1, 5_000, () => now);
  await expect(feed.follow('d-feed0001', () => {}, { timeoutMs: 60_000 })).rejects.toThrow(/coordinator at http:\/\/a:7700 is unreachable/);
  expect(source.calls).toBeGreaterThan(3);
  expect(source.calls).toBeLessThan(10);
});

it('ends at once on a refusal', async () => {
  const source = reader([new NotFoundError('no deploy d-feed0001')]);
  await expect(new PolledDeployFeed(source, 1).follow('d-feed0001', () => {}, { timeoutMs: 5_000 })).rejects.toThrow(/no deploy d-feed0001/);
  expect(source.calls).toBe(1);
});
