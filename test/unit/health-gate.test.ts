// The health gate's decisions, fed what a container and its health URL said and when:
// unhealthy before the deadline is no verdict, the deadline is, an exit or a restart loop
// fails at once, and once healthy the container must stay so through the soak.
import { describe, expect, it } from 'vitest';
import { HealthGate, PROBE_FAILURES_TO_FAIL, RESTART_LIMIT, type ContainerObservation } from '../../shared/docker/health-gate.js';

const T0 = 1_000_000;
const gate = (options: { probed?: boolean; deadlineMs?: number; soakMs?: number } = {}) =>
  new HealthGate({
    container: 'abc123',
    startedAt: T0,
    healthyDeadlineMs: options.deadlineMs ?? 30_000,
    minHealthyTimeMs: options.soakMs ?? 5_000,
    probed: options.probed ?? false,
  });
const state = (over: Partial<ContainerObservation> = {}): ContainerObservation => ({
  running: true,
  restarting: false,
  exitCode: 0,
  restartCount: 0,
  health: 'starting',
  lastCheckStartedAt: undefined,
  lastOutput: undefined,
  ...over,
});

describe('health gate: before the deadline', () => {
  it('counts Docker unhealthy verdicts as no verdict, then soaks and passes once healthy', () => {
    const g = gate();
    expect(g.observeContainer(state({ health: 'unhealthy', lastOutput: '404' }), T0 + 2_000)).toEqual({ kind: 'waiting' });
    expect(g.observeContainer(state({ health: 'unhealthy' }), T0 + 20_000)).toEqual({ kind: 'waiting' });
    expect(g.observeContainer(state({ health: 'healthy' }), T0 + 21_000)).toEqual({ kind: 'soaking', by: 'docker health check' });
    expect(g.tick(T0 + 25_999).kind).toBe('soaking');
    expect(g.tick(T0 + 26_000)).toEqual({ kind: 'passed', by: 'docker health check' });
  });

  it('counts failed probes as no verdict, and a 2xx answer as healthy while Docker still says unhealthy', () => {
    const g = gate({ probed: true });
    for (let i = 0; i < 10; i++) expect(g.observeProbe(false, 'did not answer: ECONNREFUSED', T0 + i * 100).kind).toBe('waiting');
    g.observeContainer(state({ health: 'unhealthy', lastCheckStartedAt: T0 + 900 }), T0 + 1_000);
    expect(g.observeProbe(true, 'answered 200', T0 + 3_000)).toEqual({ kind: 'soaking', by: 'health URL' });
    // Docker's verdict from before the soak is stale; a check begun since that passes is fine.
    expect(g.observeContainer(state({ health: 'unhealthy', lastCheckStartedAt: T0 + 2_900 }), T0 + 3_100).kind).toBe('soaking');
    expect(g.observeContainer(state({ health: 'healthy', lastCheckStartedAt: T0 + 3_900 }), T0 + 4_000).kind).toBe('soaking');
    expect(g.tick(T0 + 8_000)).toEqual({ kind: 'passed', by: 'health URL' });
  });

  it('fails at the deadline, naming it and the last verdicts of both checks', () => {
    const g = gate({ probed: true, deadlineMs: 30_000 });
    g.observeContainer(state({ health: 'unhealthy', lastOutput: 'wget: server returned error: HTTP/1.0 404 Not Found' }), T0 + 5_000);
    g.observeProbe(false, 'answered 404', T0 + 29_900);
    expect(g.tick(T0 + 29_999).kind).toBe('waiting');
    expect(g.tick(T0 + 30_000)).toEqual({
      kind: 'failed',
      reason:
        "container abc123 was not healthy within 30 s; last verdict: Docker's check unhealthy (wget: server returned error: HTTP/1.0 404 Not Found); the health URL answered 404",
    });
    // Settled: nothing after the verdict changes it.
    expect(g.observeContainer(state({ health: 'healthy' }), T0 + 31_000).kind).toBe('failed');
  });

  it('fails at once when the container exits, naming its exit code', () => {
    const g = gate({ deadlineMs: 120_000 });
    g.observeContainer(state(), T0 + 500);
    expect(g.observeContainer(state({ running: false, exitCode: 64 }), T0 + 1_000)).toEqual({ kind: 'failed', reason: 'container abc123 exited with code 64' });
  });

  it('waits through a restart or two, and fails at once when the container restarts in a loop', () => {
    const g = gate({ deadlineMs: 120_000 });
    g.observeContainer(state({ restartCount: 3 }), T0);
    expect(g.observeContainer(state({ running: false, restarting: true, exitCode: 1, restartCount: 3 }), T0 + 500).kind).toBe('waiting');
    expect(g.observeContainer(state({ restartCount: 3 + RESTART_LIMIT }), T0 + 1_000).kind).toBe('waiting');
    expect(g.observeContainer(state({ running: false, restarting: true, exitCode: 1, restartCount: 4 + RESTART_LIMIT }), T0 + 2_000)).toEqual({
      kind: 'failed',
      reason: `container abc123 is restarting in a loop: ${RESTART_LIMIT + 1} restarts since it started, last exit code 1`,
    });
  });

  it('counts a running container without any health check as healthy (nothing else can tell)', () => {
    expect(gate({ soakMs: 0 }).observeContainer(state({ health: undefined }), T0)).toEqual({ kind: 'passed', by: 'running (no health check)' });
    // With a health URL, only the URL can say so.
    expect(gate({ probed: true }).observeContainer(state({ health: undefined }), T0).kind).toBe('waiting');
  });
});

describe('health gate: the soak', () => {
  const soaking = (probed = false) => {
    const g = gate({ probed, soakMs: 5_000 });
    g.observeContainer(state({ health: 'healthy', lastCheckStartedAt: T0 + 900 }), T0 + 1_000);
    return g;
  };

  it('fails when Docker says unhealthy after a check begun during the soak, saying when', () => {
    const g = soaking();
    expect(g.observeContainer(state({ health: 'unhealthy', lastCheckStartedAt: T0 + 3_400, lastOutput: 'HTTP/1.0 404' }), T0 + 3_500)).toEqual({
      kind: 'failed',
      reason: "container abc123 turned unhealthy during the soak after 2.5 s: Docker's health check: HTTP/1.0 404",
    });
  });

  it(`fails when the health URL fails ${PROBE_FAILURES_TO_FAIL} times in a row, not on fewer`, () => {
    const g = soaking(true);
    for (let i = 1; i < PROBE_FAILURES_TO_FAIL; i++) expect(g.observeProbe(false, 'answered 503', T0 + 1_000 + i * 100).kind).toBe('soaking');
    expect(g.observeProbe(true, 'answered 200', T0 + 1_500).kind).toBe('soaking');
    for (let i = 1; i < PROBE_FAILURES_TO_FAIL; i++) g.observeProbe(false, 'answered 404', T0 + 2_000 + i * 100);
    expect(g.observeProbe(false, 'answered 404', T0 + 3_000)).toEqual({
      kind: 'failed',
      reason: `container abc123 turned unhealthy during the soak after 2.0 s: the health URL failed ${PROBE_FAILURES_TO_FAIL} times in a row: answered 404`,
    });
  });

  it('fails when the container exits or is restarted during the soak', () => {
    expect(soaking().observeContainer(state({ running: false, exitCode: 137 }), T0 + 2_000)).toEqual({
      kind: 'failed',
      reason: 'container abc123 turned unhealthy during the soak after 1.0 s: the container exited with code 137',
    });
    expect(soaking().observeContainer(state({ health: 'starting', restartCount: 1, exitCode: 1 }), T0 + 4_000)).toEqual({
      kind: 'failed',
      reason: 'container abc123 turned unhealthy during the soak after 3.0 s: the container died (exit code 1) and was restarted',
    });
  });

  it('runs past the deadline: the deadline bounds becoming healthy, not staying so', () => {
    const g = gate({ deadlineMs: 10_000, soakMs: 5_000 });
    g.observeContainer(state({ health: 'healthy' }), T0 + 9_000);
    expect(g.tick(T0 + 12_000).kind).toBe('soaking');
    expect(g.dueAt).toBe(T0 + 14_000);
    expect(g.tick(T0 + 14_000).kind).toBe('passed');
  });

  it('passes at once with no soak', () => {
    expect(gate({ soakMs: 0, probed: true }).observeProbe(true, 'answered 200', T0 + 100)).toEqual({ kind: 'passed', by: 'health URL' });
  });
});
