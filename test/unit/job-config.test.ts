// A role's once-per-deploy job in the agent's config: the default timeout, and the refusals
// at load that name the field (a service the compose file lacks, the role's own service,
// an unknown setting, a negative time).
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../shared/contract/config.js';
import { agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';

const agentFile = (job: unknown) =>
  agentConfigFile({
    role: { healthUrl: 'http://127.0.0.1:8080/healthz', job },
    services: { app: { image: 'x' }, migrate: { image: 'x', profiles: ['job'] } },
  });

async function refusal(job: unknown): Promise<string> {
  await using file = await agentFile(job);
  return configRefusal(file.path);
}

describe("a role's job in the agent config", () => {
  it('takes a service of the compose file, with a 10-minute timeout unless set; a role may have none', async () => {
    await using file = await agentFile({ service: 'migrate' });
    expect(loadAgentConfig(file.path, {}).roles.web?.job).toEqual({ service: 'migrate', timeoutMs: 600_000 });
    await using none = await agentFile(undefined);
    expect(loadAgentConfig(none.path, {}).roles.web?.job).toBeUndefined();
  });

  it('refuses a service the compose file does not define, naming the field and the file', async () => {
    expect(await refusal({ service: 'migrations' })).toMatch(/roles\.web\.job\.service names "migrations", which \/.*compose\.yml does not define/);
  });

  it("refuses the role's own service, an unknown setting and a negative time", async () => {
    expect(await refusal({ service: 'app' })).toMatch(/roles\.web\.job\.service must not be the role's own service "app"/);
    expect(await refusal({ service: 'migrate', retries: 3 })).toMatch(/roles\.web\.job.*retries/);
    expect(await refusal({ service: 'migrate', timeoutMs: -5 })).toMatch(/roles\.web\.job\.timeoutMs must be a positive number of milliseconds/);
  });
});
