// The TLS settings as the configs load them (the coordinator's certificate and key, an
// agent's CA file) and the words a client uses for a certificate that does not verify.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentConfig, loadCoordinatorConfig } from '../../shared/contract/config.js';
import { ConfigError } from '../../shared/contract/errors.js';
import { certificateProblem, schemeMismatch } from '../../shared/http/tls-failure.js';
import { agentConfigFile, configRefusal, TEST_GOSSIP_KEY } from '../fixtures/agent-config-file.js';

const coordinatorEnv = { GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379', GRAPEVINE_TOKEN: 'test-token-0123456789', GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123' };

async function coordinatorFile(content: object) {
  const dir = await mkdtemp(join(tmpdir(), 'gvtest-tls-config-'));
  const path = join(dir, 'coordinator.json');
  await writeFile(path, JSON.stringify({ listen: {}, registry: '127.0.0.1:5000', serf: { bind: '127.0.0.1:7946', encryptKey: TEST_GOSSIP_KEY, dataDir: '/tmp/gvtest-serf' }, ...content }));
  return { path, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

describe('TLS config', () => {
  it('serves plain HTTP without tls, HTTPS from the files tls names', async () => {
    await using plain = await coordinatorFile({});
    expect(loadCoordinatorConfig(plain.path, coordinatorEnv).tls).toBeUndefined();
    await using secure = await coordinatorFile({ tls: { certFile: '/etc/grapevine/tls/coordinator.crt', keyFile: '/etc/grapevine/tls/coordinator.key' } });
    expect(loadCoordinatorConfig(secure.path, coordinatorEnv).tls).toEqual({ certFile: '/etc/grapevine/tls/coordinator.crt', keyFile: '/etc/grapevine/tls/coordinator.key' });
  });

  it('refuses a relative path, a missing key file and an unknown field under tls, naming each', async () => {
    await using config = await coordinatorFile({ tls: { certFile: 'coordinator.crt', keyfile: '/etc/grapevine/tls/coordinator.key' } });
    const load = () => loadCoordinatorConfig(config.path, coordinatorEnv);
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/tls\.certFile/);
    expect(load).toThrow(/tls\.keyFile/);
    expect(load).toThrow(/keyfile/);
  });

  it("takes an agent's CA file from its config or GRAPEVINE_CA_FILE, and refuses a relative one", async () => {
    await using config = await agentConfigFile({ role: { healthUrl: 'http://127.0.0.1:8080/healthz' }, services: { app: { image: 'web' } }, top: { caFile: '/etc/grapevine/tls/ca.crt' } });
    expect(loadAgentConfig(config.path, {}).caFile).toBe('/etc/grapevine/tls/ca.crt');
    expect(loadAgentConfig(config.path, { GRAPEVINE_CA_FILE: '/run/ca.pem' }).caFile).toBe('/run/ca.pem');
    await using relative = await agentConfigFile({ role: { healthUrl: 'http://127.0.0.1:8080/healthz' }, services: { app: { image: 'web' } }, top: { caFile: 'ca.crt' } });
    expect(configRefusal(relative.path)).toMatch(/caFile/);
  });
});

describe('certificate problems in words', () => {
  const failure = (code: string, message = 'x') => Object.assign(new Error(message), { code });

  it('names the reason for each verification failure an operator meets', () => {
    expect(certificateProblem(failure('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe('its certificate did not verify: it is self-signed and not in the trusted CAs (DEPTH_ZERO_SELF_SIGNED_CERT)');
    expect(certificateProblem(failure('UNABLE_TO_VERIFY_LEAF_SIGNATURE'))).toBe('its certificate did not verify: it is signed by a CA that is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)');
    expect(certificateProblem(failure('CERT_HAS_EXPIRED'))).toBe('its certificate did not verify: it has expired (CERT_HAS_EXPIRED)');
    expect(certificateProblem(failure('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames: IP: 10.0.0.5 is not in the cert's list: 10.0.0.6"))).toBe(
      "its certificate did not verify: it is for another host name: Hostname/IP does not match certificate's altnames: IP: 10.0.0.5 is not in the cert's list: 10.0.0.6",
    );
  });

  it('leaves other failures to the caller', () => {
    expect(certificateProblem(failure('ECONNREFUSED'))).toBeUndefined();
    expect(certificateProblem(new Error('no code'))).toBeUndefined();
    expect(certificateProblem(undefined)).toBeUndefined();
    expect(schemeMismatch('https://10.0.0.5:7700', failure('ECONNREFUSED'))).toBeUndefined();
  });

  it('says which way the scheme is wrong', () => {
    expect(schemeMismatch('https://10.0.0.5:7700', failure('EPROTO', 'error:0A00010B:SSL routines::wrong version number'))).toBe('does not speak TLS on that port (does it serve plain http://?)');
    expect(schemeMismatch('http://10.0.0.5:7700', failure('ECONNRESET', 'socket hang up'))).toBe('is unreachable (socket hang up; if it serves HTTPS, use https://)');
  });
});
