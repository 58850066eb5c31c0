// The Serf part of the agent's and the coordinator's config, and the rule that gossip is
// encrypted: a key from the config, the environment or a 0600 key file, or no start at
// all outside dev mode.
import * as z from 'zod';
import { SERF_KEY, readGossipKeyFile } from './gossip-key.js';

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port');
const absolutePath = z.string().regex(/^\/[A-Za-z0-9._/@+-]*$/, 'must be an absolute path of plain characters');

export const SerfConfig = z.object({
  binary: z.string().default('serf'),
  bind: hostPort,
  advertise: hostPort.optional(),
  rpc: hostPort.default('127.0.0.1:7373'),
  join: z.array(hostPort).default([]),
  /** The gossip key; only seeds the keyring file on a first start (keys rotate there afterwards). */
  encryptKey: z.string().regex(SERF_KEY, 'must be a key from `serf keygen`').optional(),
  /** A file (mode 0600) holding the gossip key, read at start: keeps the key out of the config and the environment. */
  encryptKeyFile: absolutePath.optional(),
  rpcAuth: z.string().min(8, 'must be at least 8 characters'),
  /** Folder for the generated serf config, the keyring and the snapshot that replays missed events. */
  dataDir: absolutePath,
});
export type SerfConfig = z.infer<typeof SerfConfig>;

/** Allows what only a trial on one machine should: Serf gossip without encryption (logged as a warning at start). */
export const devModeSetting = z.boolean().default(false);

const MISSING_KEY =
  'serf.encryptKey: no Serf gossip key: set serf.encryptKeyFile to a file of mode 0600 holding a key made by `serf keygen` ' +
  '(provisioning/install.sh makes /etc/grapevine/serf.key), or serf.encryptKey or GRAPEVINE_SERF_ENCRYPT_KEY to the key; ' +
  'every member of the fleet needs the same one. Only a trial on one machine may run unencrypted, with devMode: true';

/**
 * Reads serf.encryptKeyFile into serf.encryptKey and lists what is wrong: no key outside
 * dev mode, a key file others may read or that holds no key. A key given as such
 * (GRAPEVINE_SERF_ENCRYPT_KEY included) overrides the key file, as the environment overrides fields.
 */
export function settleSerfKey(serf: SerfConfig, devMode: boolean): { serf: SerfConfig; problems: string[] } {
  const { encryptKey, encryptKeyFile } = serf;
  if (encryptKey === undefined && encryptKeyFile !== undefined) {
    const read = readGossipKeyFile(encryptKeyFile);
    return 'key' in read ? { serf: { ...serf, encryptKey: read.key }, problems: [] } : { serf, problems: [`serf.encryptKeyFile ${read.problem}`] };
  }
  if (encryptKey === undefined && !devMode) return { serf, problems: [MISSING_KEY] };
  return { serf, problems: [] };
}
