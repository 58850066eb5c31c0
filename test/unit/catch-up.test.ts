// What a host's reconcile round does about a rollout it missed: runs a deploy in progress that
// names it but that it never ran; asks for a catch-up when the newest rollout ended well and
// it runs another image; takes no for an answer until the next rollout; backs off on failures.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CatchUp, missedDeploys, newestRollout } from '../../agent/catch-up.js';
import { joinedCluster } from '../../agent/serf-rejoin.js';
import { ConflictError, UnreachableError } from '../../shared/contract/errors.js';
import type { CatchUpBody, Deploy, DeployStatus, HostReport } from '../../shared/contract/schemas.js';
import type { SerfMember } from '../../shared/ports/membership.js';
import { withHostView } from '../fixtures/host-view.js';
import type { HostDeployView } from '../../shared/contract/deploy-views.js';

const log = pino({ level: 'silent' });
const image = (tag: string) => `127.0.0.1:5000/web:${tag}`;

/** A deploy as h3 (the host under test) reads it: its own view, which is also the whole deploy. */
function deploy(id: string, tag: string, status: DeployStatus, extra: Partial<Deploy> = {}): Deploy & HostDeployView {
  return withHostView({ id, role: 'web', env: 'production', tag, image: image(tag), status, createdAt: 1, targets: ['h1', 'h2', 'h3'], hosts: {}, ...extra }, 'h3');
}

function report(host: string, state: HostReport['state']): HostReport {
  return { host, state, steps: [] };
}

function setup(answers: Array<Deploy | null | Error>, outcome: HostReport['state'] = 'succeeded') {
  const asked: CatchUpBody[] = [];
  const ran: string[] = [];
  const catchUp = new CatchUp({
    node: 'h3',
    coordinator: {
      requestCatchUp: async (body) => {
        asked.push(body);
        const answer = answers.shift() ?? null;
        if (answer instanceof Error) throw answer;
        return answer;
      },
    },
    takePart: async (d) => {
      ran.push(d.id);
      return report('h3', outcome);
    },
  });
  return { catchUp, asked, ran };
}

const v2Partial = deploy('d-v2', 'v2', 'partial', { hosts: { h3: report('h3', 'lost') } });
const catchUpOfV2 = deploy('d-cu', 'v2', 'in_progress', { targets: ['h3'], catchUpOf: 'd-v2' });

describe('catching up', () => {
  it('runs a deploy in progress that names this host and has no end from it, oldest first, without asking for a catch-up', async () => {
    const older = deploy('d-a', 'v2', 'in_progress', { seq: 4, hosts: { h1: report('h1', 'succeeded') } });
    const newer = deploy('d-b', 'v3', 'in_progress', { seq: 5 });
    const notMine = deploy('d-c', 'v3', 'in_progress', { seq: 6, targets: ['h1'] });
    const ended = deploy('d-d', 'v3', 'in_progress', { seq: 3, hosts: { h3: report('h3', 'lost') } });
    expect(missedDeploys([notMine, newer, older, ended], 'h3').map((d) => d.id)).toEqual(['d-a', 'd-b']);
    const { catchUp, asked, ran } = setup([]);
    expect(await catchUp.converge('web', 'production', [notMine, newer, older, ended], image('v1'), log)).toBe('took_part');
    expect(ran).toEqual(['d-a', 'd-b']);
    expect(asked).toEqual([]);
  });

  it('asks for a catch-up when the newest rollout ended partial and the host runs another image, or none, and runs it', async () => {
    const { catchUp, asked, ran } = setup([catchUpOfV2, catchUpOfV2]);
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v1'), log)).toBe('caught_up');
    expect(asked).toEqual([{ role: 'web', env: 'production', host: 'h3', image: image('v1') }]);
    expect(ran).toEqual(['d-cu']);
    expect(await catchUp.converge('web', 'production', [v2Partial], null, log)).toBe('caught_up');
    expect(asked.at(-1)?.image).toBeNull();
  });

  it('asks nothing while the rollout is under way without it, after a rollout that failed, or when it runs the release', async () => {
    const { catchUp, asked } = setup([]);
    expect(await catchUp.converge('web', 'production', [deploy('d-v3', 'v3', 'in_progress', { targets: ['h1'] }), v2Partial], image('v1'), log)).toBeUndefined();
    expect(await catchUp.converge('web', 'production', [deploy('d-v3', 'v3', 'failed'), v2Partial], image('v1'), log)).toBeUndefined();
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v2'), log)).toBeUndefined();
    expect(asked).toEqual([]);
  });

  it('takes "up to date" for the image it runs (a blue/green group switched back) and asks again only when that image or the rollout changes', async () => {
    const { catchUp, asked } = setup([null, null]);
    const v2Succeeded = deploy('d-v2', 'v2', 'succeeded');
    expect(await catchUp.converge('web', 'production', [v2Succeeded], image('v1'), log)).toBeUndefined();
    expect(await catchUp.converge('web', 'production', [v2Succeeded], image('v1'), log)).toBeUndefined();
    expect(asked).toHaveLength(1);
    expect(await catchUp.converge('web', 'production', [v2Succeeded], image('v0'), log)).toBeUndefined();
    expect(asked.map((body) => body.image)).toEqual([image('v1'), image('v0')]);
    const { catchUp: next, asked: askedNext } = setup([null, catchUpOfV2]);
    expect(await next.converge('web', 'production', [v2Succeeded], image('v1'), log)).toBeUndefined();
    expect(await next.converge('web', 'production', [deploy('d-v3', 'v3', 'succeeded'), v2Succeeded], image('v1'), log)).toBe('caught_up');
    expect(askedNext).toHaveLength(2);
  });

  it('goes by the newest rollout, not by a catch-up of another host', () => {
    const other = deploy('d-cu', 'v2', 'succeeded', { targets: ['h1'], catchUpOf: 'd-v2' });
    expect(newestRollout([other, v2Partial])?.id).toBe('d-v2');
  });

  it('takes a refusal (a broken release) as final until the next rollout', async () => {
    const refusal = new ConflictError('release_broken', 'release web:v2 is marked broken');
    const { catchUp, asked } = setup([refusal, catchUpOfV2]);
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v1'), log)).toBe('refused');
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v1'), log)).toBe('backing_off');
    expect(asked).toHaveLength(1);
    const v3 = deploy('d-v3', 'v3', 'succeeded');
    expect(await catchUp.converge('web', 'production', [v3, v2Partial], image('v1'), log)).toBe('caught_up');
    expect(asked).toHaveLength(2);
  });

  it('asks again after 1, 2, 4, 8 rounds when catch-ups fail, and stops after 6 failures', async () => {
    const down = new UnreachableError('coordinator at http://127.0.0.1:1 is unreachable');
    const { catchUp, asked } = setup(Array.from({ length: 20 }, () => down));
    const rounds: string[] = [];
    for (let i = 0; i < 40; i++) rounds.push((await catchUp.converge('web', 'production', [v2Partial], image('v1'), log))!);
    const askedAt = rounds.flatMap((outcome, i) => (outcome === 'catch_up_failed' ? [i] : []));
    expect(askedAt).toEqual([0, 2, 5, 10, 19, 28]);
    expect(asked).toHaveLength(6);
  });

  it('counts a catch-up whose host errored as a failure, and backs off', async () => {
    const { catchUp, ran } = setup([catchUpOfV2, catchUpOfV2], 'errored');
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v1'), log)).toBe('catch_up_failed');
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v1'), log)).toBe('backing_off');
    expect(await catchUp.converge('web', 'production', [v2Partial], image('v1'), log)).toBe('catch_up_failed');
    expect(ran).toEqual(['d-cu', 'd-cu']);
  });
});

describe('joining the cluster, as the member list says', () => {
  const member = (name: string, status: string): SerfMember => ({ name, addr: '10.0.0.1', port: 7946, tags: {}, status });
  it('is joined when another member is alive and most others are not failed; a graceful leave does not count', () => {
    expect(joinedCluster([member('h1', 'alive')], 'h1')).toBe(false);
    expect(joinedCluster([member('h1', 'alive'), member('h2', 'alive')], 'h1')).toBe(true);
    expect(joinedCluster([member('h1', 'alive'), member('h2', 'alive'), member('h3', 'alive'), member('h4', 'failed')], 'h1')).toBe(true);
    // Most of the others failed at once: this host is the one cut off.
    expect(joinedCluster([member('h1', 'alive'), member('h2', 'alive'), member('h3', 'failed'), member('h4', 'failed')], 'h1')).toBe(false);
    expect(joinedCluster([member('h1', 'alive'), member('h2', 'alive'), member('h3', 'left'), member('h4', 'left')], 'h1')).toBe(true);
  });
});
