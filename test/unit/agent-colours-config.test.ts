// A blue/green role in the agent's config (`roles.ROLE.colours`): both colours or none, each
// at its own address and port, and no single address or health URL beside them; refusals
// name the field. What the agent makes of it: the role's servers (`node.blue`, `node.green`).
import { describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../../shared/contract/config.js';
import { agentConfigFile, configRefusal } from '../fixtures/agent-config-file.js';
import { deployedInstance, roleServers } from '../../agent/role-servers.js';

const CHECK = { test: ['CMD', 'true'], interval: '1s' };
const BLUE = { address: '10.0.0.1:8080', healthUrl: 'http://127.0.0.1:8080/healthz' };
const GREEN = { address: '10.0.0.1:8081', healthUrl: 'http://127.0.0.1:8081/healthz' };

/** A role whose lb has no single address: the colours give one each. */
const colouredRole = (colours: unknown, extra: Record<string, unknown> = {}) => ({ lb: { backend: 'web' }, colours, ...extra });
const files = (role: Record<string, unknown>) => agentConfigFile({ role, services: { app: { image: 'x', healthcheck: CHECK } } });

describe('agent config: a role in two colours', () => {
  it('takes both colours, each with its own address and health URL, and gives each its own server', async () => {
    await using config = await files(colouredRole({ blue: BLUE, green: GREEN }));
    const role = loadAgentConfig(config.path, {}).roles.web!;
    expect(role.colours).toEqual({ blue: BLUE, green: GREEN });
    const lbs = { web: roleServers(role) };
    expect(deployedInstance('web-1', lbs, { role: 'web', colour: 'green' })).toEqual({ backend: 'web', server: 'web-1.green', address: '10.0.0.1:8081', colour: 'green' });
    // No colour on the deploy: blue, the live colour until a first switch.
    expect(deployedInstance('web-1', lbs, { role: 'web' })).toMatchObject({ server: 'web-1.blue', address: '10.0.0.1:8080' });
  });

  it('a role without colours keeps its one server, named after the host', async () => {
    await using config = await files({});
    const role = loadAgentConfig(config.path, {}).roles.web!;
    expect(deployedInstance('web-1', { web: roleServers(role) }, { role: 'web' })).toEqual({ backend: 'web', server: 'web-1', address: '10.0.0.1:8080' });
    expect(() => deployedInstance('web-1', { web: roleServers(role) }, { role: 'web', colour: 'blue' })).toThrow(/replaces the blue colour of role web, but this host runs web without colours/);
  });

  it('refuses one colour alone, naming the one missing', async () => {
    await using config = await files(colouredRole({ blue: BLUE }));
    expect(configRefusal(config.path)).toMatch(/roles\.web\.colours\.green must name both colours, blue and green/);
  });

  it('refuses two colours at one address or one port', async () => {
    await using same = await files(colouredRole({ blue: BLUE, green: BLUE }));
    expect(configRefusal(same.path)).toMatch(/roles\.web\.colours\.green\.address must differ from colours\.blue\.address \(10\.0\.0\.1:8080\)/);
    await using samePort = await files(colouredRole({ blue: BLUE, green: { address: '10.0.0.2:8080' } }));
    expect(configRefusal(samePort.path)).toMatch(/roles\.web\.colours\.green\.address must use another port than colours\.blue\.address/);
  });

  it('refuses a single address or health URL beside the colours, and a role with neither address nor colours', async () => {
    await using withAddress = await files({ lb: { backend: 'web', address: '10.0.0.1:8080' }, colours: { blue: BLUE, green: GREEN } });
    expect(configRefusal(withAddress.path)).toMatch(/roles\.web\.lb\.address must not be set beside colours/);
    await using withHealth = await files(colouredRole({ blue: BLUE, green: GREEN }, { healthUrl: 'http://127.0.0.1:8080/healthz' }));
    expect(configRefusal(withHealth.path)).toMatch(/roles\.web\.healthUrl must not be set beside colours/);
    await using neither = await files({ lb: { backend: 'web' } });
    expect(configRefusal(neither.path)).toMatch(/roles\.web\.lb\.address must be set \(or colours, for a blue\/green role\)/);
  });

  it('refuses an unknown colour or field, and a bad address, naming it', async () => {
    await using red = await files(colouredRole({ blue: BLUE, green: GREEN, red: BLUE }));
    expect(configRefusal(red.path)).toMatch(/roles\.web\.colours.*"red"/);
    await using badAddress = await files(colouredRole({ blue: { address: 'nowhere' }, green: GREEN }));
    expect(configRefusal(badAddress.path)).toMatch(/roles\.web\.colours\.blue\.address must be host:port/);
  });
});
