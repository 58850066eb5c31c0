// A role's hooks in the agent's config: the defaults, and the refusals at load that name
// the field (an unknown hook or setting, a negative time, a relative program, a shell
// script given as several strings, a timeout that does not fit in the step deadline).
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../shared/contract/config.js';
import { agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';

const agentFile = (hooks: unknown, top: Record<string, unknown> = {}) =>
  agentConfigFile({
    role: { healthUrl: 'http://127.0.0.1:8080/healthz', hooks },
    services: { app: { image: 'x', healthcheck: { test: ['CMD', 'true'], interval: '1s' } } },
    top,
  });

async function refusal(hooks: unknown, top: Record<string, unknown> = {}): Promise<string> {
  await using file = await agentFile(hooks, top);
  return configRefusal(file.path);
}

describe('agent config: hooks', () => {
  it('takes the three hooks, each with a 60 s timeout and no shell unless set', async () => {
    await using file = await agentFile({
      beforeDrain: { command: ['/usr/local/bin/flush-queue', '--wait'] },
      afterUp: { command: ['warm-cache'], timeoutMs: 5_000 },
      afterRegister: { command: ['curl -fsS "http://$GRAPEVINE_LB_ADDRESS/" | grep -q "$GRAPEVINE_TAG"'], shell: true },
    });
    expect(loadAgentConfig(file.path, {}).roles.web!.hooks).toEqual({
      beforeDrain: { command: ['/usr/local/bin/flush-queue', '--wait'], timeoutMs: 60_000, shell: false },
      afterUp: { command: ['warm-cache'], timeoutMs: 5_000, shell: false },
      afterRegister: { command: ['curl -fsS "http://$GRAPEVINE_LB_ADDRESS/" | grep -q "$GRAPEVINE_TAG"'], timeoutMs: 60_000, shell: true },
    });
  });

  it('refuses an unknown hook name, naming it and where it is', async () => {
    const message = await refusal({ beforeDeploy: { command: ['/bin/true'] } });
    expect(message).toMatch(/roles\.web\.hooks .*"beforeDeploy"/);
  });

  it('refuses an unknown setting of a hook', async () => {
    expect(await refusal({ afterUp: { command: ['/bin/true'], args: ['-x'] } })).toMatch(/roles\.web\.hooks\.afterUp .*"args"/);
  });

  it('refuses a negative or zero timeout, naming the field', async () => {
    expect(await refusal({ afterRegister: { command: ['/bin/true'], timeoutMs: -1 } })).toContain(
      'roles.web.hooks.afterRegister.timeoutMs must be a positive number of milliseconds',
    );
    expect(await refusal({ beforeDrain: { command: ['/bin/true'], timeoutMs: 0 } })).toContain('roles.web.hooks.beforeDrain.timeoutMs');
  });

  it('refuses a program given by a relative path or with shell syntax, unless shell is set', async () => {
    expect(await refusal({ afterUp: { command: ['./smoke-test.sh'] } })).toContain(
      'roles.web.hooks.afterUp.command.0 must be an absolute path or a program name on PATH',
    );
    expect(await refusal({ afterUp: { command: ['curl -f http://x | grep ok'] } })).toContain('roles.web.hooks.afterUp.command.0');
  });

  it('refuses a shell hook given as several strings, and an empty command', async () => {
    expect(await refusal({ afterUp: { command: ['echo', 'hi'], shell: true } })).toContain(
      'roles.web.hooks.afterUp.command must be one string (the script /bin/sh -c runs) when shell is true',
    );
    expect(await refusal({ afterUp: { command: [] } })).toContain('roles.web.hooks.afterUp.command must name a program');
  });

  it('refuses a timeout that does not end well within the step deadline, which would blame the host instead of the release', async () => {
    expect(await refusal({ afterRegister: { command: ['/bin/true'], timeoutMs: 290_000 } })).toContain(
      'roles.web.hooks.afterRegister.timeoutMs (290000 ms) must be at least 20 s shorter than stepDeadlineMs (300000 ms)',
    );
    await using raised = await agentFile({ afterRegister: { command: ['/bin/true'], timeoutMs: 290_000 } }, { stepDeadlineMs: 600_000 });
    expect(loadAgentConfig(raised.path, {}).roles.web!.hooks?.afterRegister?.timeoutMs).toBe(290_000);
  });
});
