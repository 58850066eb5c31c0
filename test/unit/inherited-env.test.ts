// What the agent's child processes keep of its environment: a hook and `docker compose` get
// the named variables only, never the agent's token, Redis password or Serf keys.
import { describe, expect, it } from 'vitest';
import { COMPOSE_INHERITED_ENV, INHERITED_ENV, inheritedEnv } from '../../shared/contract/inherited-env.js';
import { composeEnv } from '../../shared/docker/compose-cli.js';

/** An agent's environment as a host might have it: its secrets beside the ordinary variables. */
const agentEnv = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/var/lib/grapevine',
  LANG: 'C.UTF-8',
  TZ: 'UTC',
  DOCKER_CONFIG: '/etc/grapevine/docker',
  GRAPEVINE_TOKEN: 'gv_host_secret',
  GRAPEVINE_REDIS_URL: 'redis://agent:redis-password@10.0.0.2:6379',
  GRAPEVINE_SERF_RPC_AUTH: 'serf-rpc-secret',
  GRAPEVINE_SERF_ENCRYPT_KEY: 'c2VyZi1nb3NzaXAta2V5LTMyLWJ5dGVzLWxvbmch',
  DOCKER_HOST: 'tcp://10.9.9.9:2375',
  DOCKER_CONTEXT: 'elsewhere',
  DOCKER_CERT_PATH: '/root/.docker/certs',
  COMPOSE_PROJECT_NAME: 'someone-else',
  COMPOSE_FILE: '/tmp/other.yml',
  HTTPS_PROXY: 'http://user:proxy-password@proxy:3128',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  LC_ALL: undefined,
};

describe('inherited environment', () => {
  it('names PATH, HOME, LANG, LC_ALL and TZ for hooks, and DOCKER_CONFIG besides for compose', () => {
    expect([...INHERITED_ENV]).toEqual(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ']);
    expect([...COMPOSE_INHERITED_ENV]).toEqual(['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'DOCKER_CONFIG']);
  });

  it('keeps only the named variables that are set', () => {
    expect(inheritedEnv(INHERITED_ENV, agentEnv)).toEqual({ PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/var/lib/grapevine', LANG: 'C.UTF-8', TZ: 'UTC' });
    expect(inheritedEnv(INHERITED_ENV, {})).toEqual({});
  });

  it("gives compose the allowlist, the agent's engine and the deploy's variables, and none of the agent's secrets", () => {
    const env = composeEnv('/var/run/docker.sock', { env: { GRAPEVINE_IMAGE: 'registry:5000/web@sha256:' + 'a'.repeat(64), GRAPEVINE_NODE: 'web-1', GRAPEVINE_ROLE: 'web' } }, agentEnv);
    expect(env).toEqual({
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/var/lib/grapevine',
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      DOCKER_CONFIG: '/etc/grapevine/docker',
      DOCKER_HOST: 'unix:///var/run/docker.sock',
      GRAPEVINE_IMAGE: 'registry:5000/web@sha256:' + 'a'.repeat(64),
      GRAPEVINE_NODE: 'web-1',
      GRAPEVINE_ROLE: 'web',
    });
    const text = JSON.stringify(env);
    for (const secret of ['gv_host_secret', 'redis-password', 'serf-rpc-secret', 'c2VyZi1n', 'proxy-password', 'aws-secret']) expect(text).not.toContain(secret);
  });
});
