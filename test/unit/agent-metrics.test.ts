// One host's Prometheus metrics as a scrape reads them: its steps' durations, the release it
// runs, its last deploy's end and its failed lease renewals; served at GET /metrics, and
// never a failure that could reach a deploy. The config's `metrics` section and its refusals.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../agent/metrics/agent-metrics.js';
import { metricsApp } from '../../agent/metrics/metrics-server.js';
import { stepDurations } from '../../agent/metrics/step-durations.js';
import { loadAgentConfig } from '../../shared/contract/config.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';
import { parseExposition, samplesOf, valueOf, type Sample } from '../fixtures/prometheus-text.js';

const silent = pino({ level: 'silent' });
const web = { role: 'web', env: 'production' };
const T = 1_700_000_000_000;

/** A final report with steps at the given seconds after T, ended `end` seconds after T. */
function ended(state: HostReport['state'], steps: Array<[HostReport['steps'][number]['step'], number]>, end: number): HostReport {
  return { host: 'h1', state, steps: steps.map(([step, s]) => ({ step, at: T + s * 1000 })), endedAt: T + end * 1000 };
}

const SUCCEEDED = ended('succeeded', [['received', 0], ['waiting', 0.5], ['slot', 4], ['drain', 4], ['pull', 6], ['up', 9], ['health', 10], ['register', 13], ['release', 13.25]], 13.5);

async function scrape(metrics: AgentMetrics): Promise<Sample[]> {
  return parseExposition(await metrics.exposition());
}

describe('step durations', () => {
  it('run from each step to the next, the last to the end; steps are taken in time order', () => {
    const report = ended('failed', [['received', 0], ['slot', 2], ['waiting', 0.5]], 3);
    expect(stepDurations(report)).toEqual([
      { step: 'received', seconds: 0.5 },
      { step: 'waiting', seconds: 1.5 },
      { step: 'slot', seconds: 1 },
    ]);
  });

  it('leave out the last step of a report that has not ended', () => {
    const { endedAt: _, ...open } = ended('deploying', [['received', 0], ['slot', 2]], 0);
    expect(stepDurations(open)).toEqual([{ step: 'received', seconds: 2 }]);
  });
});

describe('agent metrics', () => {
  it('count each step of a part that succeeded, and show its release and its end', async () => {
    const metrics = new AgentMetrics({ logger: silent, processMetrics: false });
    metrics.deployEnded({ ...web, tag: 'v2' }, SUCCEEDED);
    const now = await scrape(metrics);
    expect(valueOf(now, 'grapevine_agent_step_duration_seconds_count', { ...web, step: 'pull' })).toBe(1);
    expect(valueOf(now, 'grapevine_agent_step_duration_seconds_sum', { ...web, step: 'pull' })).toBe(3);
    expect(valueOf(now, 'grapevine_agent_step_duration_seconds_sum', { ...web, step: 'waiting' })).toBe(3.5);
    expect(valueOf(now, 'grapevine_agent_step_duration_seconds_bucket', { ...web, step: 'health', le: '2.5' })).toBe(0);
    expect(valueOf(now, 'grapevine_agent_step_duration_seconds_bucket', { ...web, step: 'health', le: '5' })).toBe(1);
    expect(samplesOf(now, 'grapevine_agent_step_duration_seconds_count').map((s) => s.labels.step)).toHaveLength(9);
    expect(samplesOf(now, 'grapevine_agent_release_info')).toEqual([{ name: 'grapevine_agent_release_info', labels: { ...web, tag: 'v2' }, value: 1 }]);
    expect(samplesOf(now, 'grapevine_agent_last_deploy_state').filter((s) => s.value === 1).map((s) => s.labels.state)).toEqual(['succeeded']);
    expect(samplesOf(now, 'grapevine_agent_last_deploy_state')).toHaveLength(4);
    expect(valueOf(now, 'grapevine_agent_last_deploy_timestamp_seconds', web)).toBe(T / 1000 + 13.5);
  });

  it('keep the release that runs after a part that failed, and show the failure as the last end', async () => {
    const metrics = new AgentMetrics({ logger: silent, processMetrics: false });
    metrics.deployEnded({ ...web, tag: 'v2' }, SUCCEEDED);
    metrics.deployEnded({ ...web, tag: 'bad' }, ended('failed', [['received', 0], ['slot', 0], ['health', 1]], 40));
    const now = await scrape(metrics);
    expect(samplesOf(now, 'grapevine_agent_release_info').map((s) => s.labels.tag)).toEqual(['v2']);
    expect(valueOf(now, 'grapevine_agent_last_deploy_state', { ...web, state: 'failed' })).toBe(1);
    expect(valueOf(now, 'grapevine_agent_last_deploy_state', { ...web, state: 'succeeded' })).toBe(0);
    expect(valueOf(now, 'grapevine_agent_step_duration_seconds_count', { ...web, step: 'health' })).toBe(2);
  });

  it('show the release a reconcile round found running, one per group, and none once no container runs', async () => {
    const metrics = new AgentMetrics({ logger: silent, processMetrics: false });
    metrics.running(web, 'v1');
    metrics.running({ role: 'api', env: 'production' }, 'a7');
    metrics.running(web, 'v3');
    let info = samplesOf(await scrape(metrics), 'grapevine_agent_release_info').map((s) => `${s.labels.role}:${s.labels.tag}=${s.value}`);
    expect(info.sort()).toEqual(['api:a7=1', 'web:v3=1']);
    metrics.running(web, null);
    info = samplesOf(await scrape(metrics), 'grapevine_agent_release_info').map((s) => `${s.labels.role}:${s.labels.tag}`);
    expect(info).toEqual(['api:a7']);
  });

  it('count failed lease renewals and lost leases by group', async () => {
    const metrics = new AgentMetrics({ logger: silent, processMetrics: false });
    metrics.renewalFailed(web);
    metrics.renewalFailed(web);
    metrics.lost(web);
    const now = await scrape(metrics);
    expect(valueOf(now, 'grapevine_agent_lease_renewals_failed_total', web)).toBe(2);
    expect(valueOf(now, 'grapevine_agent_leases_lost_total', web)).toBe(1);
  });

  it('never throw into the deploy that tells them: a report they cannot count is logged and skipped', async () => {
    const lines: Array<{ msg: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const metrics = new AgentMetrics({ logger, processMetrics: false });
    const broken = { ...SUCCEEDED, steps: [{ step: 'received' as const, at: Number.NaN }] };
    expect(() => metrics.deployEnded({ ...web, tag: 'v2' }, broken)).not.toThrow();
    expect(lines.map((line) => line.msg)).toEqual(['could not count a deploy end in the metrics']);
    expect(parseExposition(await metrics.exposition())).toBeDefined();
  });

  it('include Node.js process metrics by default', async () => {
    const metrics = new AgentMetrics({ logger: silent });
    expect(valueOf(await scrape(metrics), 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});

describe("the agent's metrics endpoint", () => {
  it('answers GET /metrics in the text format and nothing else', async () => {
    const metrics = new AgentMetrics({ logger: silent, processMetrics: false });
    metrics.deployEnded({ ...web, tag: 'v2' }, SUCCEEDED);
    const app = metricsApp(metrics, silent);
    const answer = await app.request('/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(valueOf(parseExposition(await answer.text()), 'grapevine_agent_release_info', { ...web, tag: 'v2' })).toBe(1);
    expect((await app.request('/')).status).toBe(404);
    expect((await app.request('/metrics', { method: 'POST' })).status).toBe(404);
  });
});

describe('agent config: metrics', () => {
  const files = (metrics: unknown) => agentConfigFile({ services: { app: { image: 'x' } }, role: { healthUrl: 'http://127.0.0.1:8080/healthz' }, top: { metrics } });

  it('is off unless set, and takes an address and a port', async () => {
    await using none = await agentConfigFile({ services: { app: { image: 'x' } }, role: { healthUrl: 'http://127.0.0.1:8080/healthz' } });
    expect(loadAgentConfig(none.path, {}).metrics).toBeUndefined();
    await using set = await files({ host: '10.0.0.1', port: 9464 });
    expect(loadAgentConfig(set.path, {}).metrics).toEqual({ host: '10.0.0.1', port: 9464 });
    await using named = await files({ host: 'web-1.internal', port: 9464 });
    expect(loadAgentConfig(named.path, {}).metrics?.host).toBe('web-1.internal');
  });

  it('refuses a missing or wrong port, a wrong address and an unknown field, naming each', async () => {
    await using noPort = await files({ host: '10.0.0.1' });
    expect(configRefusal(noPort.path)).toMatch(/metrics\.port must be the port number to serve metrics on \(1 to 65535\)/);
    await using badPort = await files({ host: '10.0.0.1', port: 70000 });
    expect(configRefusal(badPort.path)).toMatch(/metrics\.port must be 1 to 65535/);
    await using badHost = await files({ host: 'http://10.0.0.1', port: 9464 });
    expect(configRefusal(badHost.path)).toMatch(/metrics\.host must be an IP address or host name to listen on/);
    await using extra = await files({ host: '10.0.0.1', port: 9464, path: '/metrics' });
    expect(configRefusal(extra.path)).toMatch(/metrics Unrecognized key: "path"/);
    await using notAnObject = await files(9464);
    expect(configRefusal(notAnObject.path)).toMatch(/metrics /);
  });
});
