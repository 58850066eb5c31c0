// The rules that end a deploy, as a table: hosts' reports in (as the counts the store keeps
// of them, and the unsuccessful ones the outcome names), the outcome (or none yet) out.
import { describe, expect, it } from 'vitest';
import { UNSUCCESSFUL_STATES, deployIsOver, deployOutcome, namesHosts, type DeployOutcome } from '../../coordinator/deploy-outcome.js';
import { tallyReports } from '../../shared/contract/deploy-tally.js';
import type { HostReport, HostState } from '../../shared/contract/schemas.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';

const record: DeployRecord = {
  id: 'd-test0001',
  role: 'web',
  env: 'production',
  tag: 'v1',
  image: '127.0.0.1:5000/web:v1',
  status: 'in_progress',
  createdAt: 1,
  expectedHosts: 3,
  targets: ['h1', 'h2', 'h3'],
};

/** Reports from `host:state[:error]` shorthands. */
function hosts(...entries: string[]): Record<string, HostReport> {
  return Object.fromEntries(
    entries.map((entry) => {
      const [, host = '', state = '', error] = /^([^:]+):([^:]+)(?::(.*))?$/.exec(entry) ?? [];
      return [host, { host, state: state as HostState, steps: [], ...(error === undefined ? {} : { error }) }];
    }),
  );
}

interface Input {
  record: DeployRecord;
  hosts: Record<string, HostReport>;
  countedDown: boolean;
  firstFailed?: string;
}

/** The outcome as the coordinator reaches it: from the counts, then the unsuccessful reports. */
function outcomeOf({ record, hosts, countedDown, firstFailed }: Input): DeployOutcome | undefined {
  const tally = tallyReports(record.targets, record.expectedHosts, hosts);
  const unsuccessful = Object.values(hosts).filter((report) => UNSUCCESSFUL_STATES.has(report.state));
  return deployOutcome({ record, tally, countedDown, unsuccessful, ...(firstFailed === undefined ? {} : { firstFailed }) });
}

interface Case {
  name: string;
  input: Partial<Input>;
  outcome: DeployOutcome | undefined;
}

const cases: Case[] = [
  { name: 'every target succeeded', input: { hosts: hosts('h1:succeeded', 'h2:succeeded', 'h3:succeeded') }, outcome: { status: 'succeeded' } },
  {
    name: 'one host failed, the others stood down',
    input: { hosts: hosts('h1:succeeded', 'h2:failed:health: exited (1)', 'h3:cancelled:release marked broken') },
    outcome: { status: 'failed', reason: 'host h2 failed: health: exited (1)' },
  },
  {
    name: 'several failed: the alphabetically first is named, the rest counted',
    input: { hosts: hosts('h3:failed:pull: not found', 'h1:failed:health: exited (1)', 'h2:failed:up: no such image') },
    outcome: { status: 'failed', reason: 'host h1 failed: health: exited (1) (and 2 more hosts failed)' },
  },
  {
    name: 'several failed: the first to fail is named when known',
    input: { hosts: hosts('h1:failed:health: exited (1)', 'h2:succeeded', 'h3:failed:pull: not found'), firstFailed: 'h3' },
    outcome: { status: 'failed', reason: 'host h3 failed: pull: not found (and 1 more hosts failed)' },
  },
  {
    name: 'a first failure that is not among the failed hosts names the alphabetically first',
    input: { hosts: hosts('h1:succeeded', 'h2:failed:boom', 'h3:failed:bang'), firstFailed: 'release-bot' },
    outcome: { status: 'failed', reason: 'host h2 failed: boom (and 1 more hosts failed)' },
  },
  {
    name: 'a failure with no error says so',
    input: { hosts: hosts('h1:succeeded', 'h2:failed', 'h3:succeeded') },
    outcome: { status: 'failed', reason: 'host h2 failed: no error given' },
  },
  {
    name: 'a failure outweighs hosts lost and stood down',
    input: { hosts: hosts('h1:lost:gone', 'h2:cancelled:stood down', 'h3:failed:boom') },
    outcome: { status: 'failed', reason: 'host h3 failed: boom' },
  },
  {
    name: 'hosts stood down and none failed',
    input: { hosts: hosts('h1:succeeded', 'h2:cancelled:interrupted: lock lost', 'h3:cancelled') },
    outcome: { status: 'cancelled', reason: 'host h2 stood down: interrupted: lock lost (and 1 more hosts stood down)' },
  },
  {
    name: 'one host stood down with no reason',
    input: { hosts: hosts('h1:succeeded', 'h2:succeeded', 'h3:cancelled') },
    outcome: { status: 'cancelled', reason: 'host h3 stood down: no reason given' },
  },
  {
    name: 'hosts lost and the rest succeeded: partial, lost hosts sorted',
    input: { hosts: hosts('h3:lost:gone', 'h2:succeeded', 'h1:lost:gone') },
    outcome: { status: 'partial', reason: 'hosts lost: h1, h3' },
  },
  {
    name: 'a cancelled host outweighs a lost one',
    input: { hosts: hosts('h1:lost', 'h2:cancelled:x', 'h3:succeeded') },
    outcome: { status: 'cancelled', reason: 'host h2 stood down: x' },
  },
  {
    name: 'a host errored and none failed: partial, naming the host and why',
    input: { hosts: hosts('h1:succeeded', 'h3:errored:drain: redis unreachable', 'h2:succeeded') },
    outcome: { status: 'partial', reason: 'hosts errored: h3 (drain: redis unreachable)' },
  },
  {
    name: 'hosts errored and lost: partial, naming both, errored first',
    input: { hosts: hosts('h3:errored:pull: registry unreachable', 'h2:lost:gone', 'h1:errored') },
    outcome: { status: 'partial', reason: 'hosts errored: h1 (no error given), h3 (pull: registry unreachable); hosts lost: h2' },
  },
  {
    name: 'a failure outweighs an errored host',
    input: { hosts: hosts('h1:errored:up: docker unreachable', 'h2:failed:health: exited (1)', 'h3:cancelled:release marked broken') },
    outcome: { status: 'failed', reason: 'host h2 failed: health: exited (1)' },
  },
  {
    name: 'a cancelled host outweighs an errored one',
    input: { hosts: hosts('h1:errored:boom', 'h2:cancelled:x', 'h3:succeeded') },
    outcome: { status: 'cancelled', reason: 'host h2 stood down: x' },
  },
  { name: 'not counted down yet', input: { hosts: hosts('h1:succeeded', 'h2:succeeded', 'h3:succeeded'), countedDown: false }, outcome: undefined },
  { name: 'a target still deploying', input: { hosts: hosts('h1:succeeded', 'h2:deploying', 'h3:succeeded') }, outcome: undefined },
  { name: 'a target still waiting', input: { hosts: hosts('h1:succeeded', 'h2:waiting', 'h3:succeeded') }, outcome: undefined },
  { name: 'a target never reported', input: { hosts: hosts('h1:succeeded', 'h2:succeeded') }, outcome: undefined },
  {
    name: 'a reporting host that is no target is not final',
    input: { hosts: hosts('h1:succeeded', 'h2:succeeded', 'h3:succeeded', 'h4:deploying') },
    outcome: undefined,
  },
  {
    name: 'fewer hosts reported than expected',
    input: { record: { ...record, targets: ['h1'], expectedHosts: 2 }, hosts: hosts('h1:succeeded') },
    outcome: undefined,
  },
  {
    name: 'as many hosts reported as expected, beyond the targets',
    input: { record: { ...record, targets: ['h1'], expectedHosts: 2 }, hosts: hosts('h1:succeeded', 'h9:succeeded') },
    outcome: { status: 'succeeded' },
  },
  {
    name: 'a deploy with no targets recorded ends on its expected hosts',
    input: { record: { ...record, targets: undefined, expectedHosts: 1 }, hosts: hosts('h1:succeeded') },
    outcome: { status: 'succeeded' },
  },
  {
    name: 'a deploy that already ended is not ended again',
    input: { record: { ...record, status: 'failed' }, hosts: hosts('h1:succeeded', 'h2:succeeded', 'h3:succeeded') },
    outcome: undefined,
  },
];

describe('deployOutcome', () => {
  it.each(cases)('$name', ({ input, outcome }) => {
    expect(outcomeOf({ record, hosts: {}, countedDown: true, ...input })).toEqual(outcome);
  });

  it('names the same host whatever order the reports were stored in', () => {
    const forward = hosts('h1:failed:a', 'h2:failed:b', 'h3:failed:c');
    const backward = Object.fromEntries(Object.entries(forward).reverse());
    expect(outcomeOf({ record, hosts: backward, countedDown: true })).toEqual(outcomeOf({ record, hosts: forward, countedDown: true }));
  });

  it('decides the end from counts alone: the reports are needed only to name hosts', () => {
    const tally = { counts: { succeeded: 9_999, deploying: 1 }, reported: 10_000, targets: 10_000, targetsEnded: 9_999 };
    expect(deployIsOver({ record, tally, countedDown: true })).toBe(false);
    const over = { counts: { succeeded: 9_998, lost: 2 }, reported: 10_000, targets: 10_000, targetsEnded: 10_000 };
    expect(deployIsOver({ record, tally: over, countedDown: true })).toBe(true);
    expect(namesHosts(over)).toBe(true);
    expect(namesHosts({ ...over, counts: { succeeded: 10_000 } })).toBe(false);
    expect(deployOutcome({ record, tally: { ...over, counts: { succeeded: 10_000 } }, countedDown: true, unsuccessful: [] })).toEqual({ status: 'succeeded' });
  });
});
