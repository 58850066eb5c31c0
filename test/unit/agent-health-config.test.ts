// A role's health gate in the agent's config: the defaults, and the refusals at load that
// name the field or file (a negative or non-whole time, a soak not shorter than the
// deadline, the old single timeout, a role with neither a compose health check nor a health URL).
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../shared/contract/config.js';
import { agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';

const CHECK = { test: ['CMD', 'true'], interval: '1s' };

const agentFiles = (role: Record<string, unknown>, service: Record<string, unknown> = { image: 'x', healthcheck: CHECK }, top: Record<string, unknown> = {}) =>
  agentConfigFile({ role, services: { app: service }, top });
const refusal = configRefusal;

describe('agent config: the health gate', () => {
  it('defaults to a 120 s deadline and a 10 s soak', async () => {
    await using files = await agentFiles({});
    const role = loadAgentConfig(files.path, {}).roles.web!;
    expect(role.healthyDeadlineMs).toBe(120_000);
    expect(role.minHealthyTimeMs).toBe(10_000);
  });

  it('takes a zero soak and a role with a health URL whose compose service has no health check', async () => {
    await using files = await agentFiles({ healthUrl: 'http://127.0.0.1:8080/healthz', minHealthyTimeMs: 0 }, { image: 'x' });
    expect(loadAgentConfig(files.path, {}).roles.web!.minHealthyTimeMs).toBe(0);
  });

  it('refuses negative, non-whole and missing-the-point times, naming the field', async () => {
    await using negative = await agentFiles({ minHealthyTimeMs: -1 });
    expect(refusal(negative.path)).toMatch(/roles\.web\.minHealthyTimeMs must not be negative/);
    await using fraction = await agentFiles({ healthyDeadlineMs: 1500.5 });
    expect(refusal(fraction.path)).toMatch(/roles\.web\.healthyDeadlineMs must be a whole number of milliseconds/);
    await using zero = await agentFiles({ healthyDeadlineMs: 0 });
    expect(refusal(zero.path)).toMatch(/roles\.web\.healthyDeadlineMs must be above 0/);
    await using soakTooLong = await agentFiles({ healthyDeadlineMs: 10_000, minHealthyTimeMs: 10_000 });
    expect(refusal(soakTooLong.path)).toMatch(/roles\.web\.minHealthyTimeMs must be shorter than healthyDeadlineMs/);
  });

  it('refuses the old healthTimeoutMs, pointing to what replaced it', async () => {
    await using files = await agentFiles({ healthTimeoutMs: 60_000 });
    expect(refusal(files.path)).toMatch(/roles\.web\.healthTimeoutMs is gone: the health gate is now healthyDeadlineMs .* and minHealthyTimeMs/);
  });

  it('refuses a gate that cannot fit in one step', async () => {
    await using files = await agentFiles({ healthyDeadlineMs: 100_000, minHealthyTimeMs: 30_000 }, undefined, { stepDeadlineMs: 120_000 });
    expect(refusal(files.path)).toMatch(/roles\.web\.healthyDeadlineMs with minHealthyTimeMs .* must fit in stepDeadlineMs \(120000 ms\)/);
  });

  it('refuses a role with neither a health URL nor a compose health check, naming the service and file', async () => {
    await using none = await agentFiles({}, { image: 'x' });
    expect(refusal(none.path)).toContain(`roles.web has neither healthUrl nor a healthcheck for service "app" in ${none.compose}`);
    await using disabled = await agentFiles({}, { image: 'x', healthcheck: { disable: true } });
    expect(refusal(disabled.path)).toContain('roles.web has neither healthUrl nor a healthcheck for service "app"');
    await using off = await agentFiles({}, { image: 'x', healthcheck: { test: ['NONE'] } });
    expect(refusal(off.path)).toContain('roles.web has neither healthUrl nor a healthcheck for service "app"');
  });

  it('refuses a compose file it cannot read or that lacks the service, naming the file', async () => {
    await using missing = await agentFiles({ compose: '/nonexistent/gvtest/compose.yml' });
    expect(refusal(missing.path)).toMatch(/roles\.web\.compose cannot be read to find the health check of service "app"/);
    await using otherService = await agentFiles({ service: 'api' });
    expect(refusal(otherService.path)).toContain(`roles.web.compose ${otherService.compose} has no service "api"`);
  });
});
