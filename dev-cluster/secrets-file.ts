// The local cluster's secrets leave it one way: <dir>/secrets.env, mode 0600, which an
// operator sources to use the CLI. What `dev up` and `dev status` print is the state
// without them (printedState), so no token, password or key lands in a terminal or CI log.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DevClusterState } from './cluster-state.js';
import { passwordOf } from './redis-acl.js';

export function secretsFileOf(state: Pick<DevClusterState, 'dir'>): string {
  return join(state.dir, 'secrets.env');
}

/**
 * The CLI's environment (`cliEnv`), the Redis admin user for redis-cli (`redis-cli -h HOST
 * -p PORT --user admin` reads REDISCLI_AUTH) and the Serf key when the cluster has one.
 * The admin URL gets a name of its own: GRAPEVINE_REDIS_URL would hand an agent or a
 * coordinator started from the same shell the admin user.
 */
export function writeSecretsFile(state: DevClusterState, cliEnv: Record<string, string>): string {
  const serfKey = (state as { serfEncryptKey?: unknown }).serfEncryptKey;
  const env: Record<string, string> = {
    GRAPEVINE_REDIS_ADMIN_URL: state.redisUsers.admin,
    REDISCLI_AUTH: passwordOf(state.redisUsers.admin),
    ...(typeof serfKey === 'string' ? { GRAPEVINE_SERF_ENCRYPT_KEY: serfKey } : {}),
    ...cliEnv,
  };
  const file = secretsFileOf(state);
  const lines = Object.entries(env).map(([name, value]) => `export ${name}=${shellQuoted(value)}`);
  writeFileSync(file, `# Secrets of the local cluster ${state.name}: \`source ${file}\` to use the CLI against it.\n${lines.join('\n')}\n`, { mode: 0o600 });
  // The mode given to writeFileSync applies only to a file it creates.
  chmodSync(file, 0o600);
  return file;
}

/** Fields of the state safe to print: everything but the secrets is named here, so a field added later stays unprinted until someone names it. */
const PRINTABLE = ['name', 'dir', 'subnet', 'ports', 'network', 'coordinatorUrl', 'lbUrl', 'stagingLbUrl', 'routedLbUrl', 'registry', 'serfRpc', 'runtimeSocket', 'processes', 'heals', 'tls', 'caFile', 'relayUrl'] as const;
const PRINTABLE_HOST = ['name', 'env', 'address', 'holder', 'holderPid', 'netns', 'agent', 'agentConfig', 'serfPidFile', 'serfConfigFile', 'dir', 'project', 'metricsUrl', 'servers', 'cluster'] as const;

/** The state as `dev up --json` and `dev status --json` print it: no token, password or key, and where the secrets file is. */
export function printedState(state: DevClusterState): Record<string, unknown> {
  const pick = (from: object, fields: readonly string[]) => Object.fromEntries(fields.filter((field) => field in from).map((field) => [field, (from as Record<string, unknown>)[field]]));
  return { ...pick(state, PRINTABLE), hosts: state.hosts.map((host) => pick(host, PRINTABLE_HOST)), secretsFile: secretsFileOf(state) };
}

function shellQuoted(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
