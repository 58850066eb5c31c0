// Serf's keyring file in the agent's data dir: seeded from the configured gossip key on
// a first start, then Serf's own, so a key installed by a rotation survives a restart.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Logger } from '../contract/logger.js';

/**
 * Makes sure the keyring file exists when there is a key, and warns when gossip runs
 * unencrypted or when the configured key is no longer in the keyring (a rotation
 * replaced it: new hosts given the old key will not join).
 */
export function gossipKeyring(file: string, configuredKey: string | undefined, logger: Logger): void {
  if (!existsSync(file)) {
    if (configuredKey === undefined) {
      logger.warn('Serf gossip is NOT encrypted (devMode, no serf.encryptKey): anyone who reaches the gossip port can join and fire deploy events');
      return;
    }
    // Serf writes the primary key first; a new keyring holds just the configured one.
    writeFileSync(file, `${JSON.stringify([configuredKey])}\n`, { mode: 0o600, flag: 'wx' });
    return;
  }
  if (configuredKey !== undefined && !keysIn(file).includes(configuredKey)) {
    logger.warn({ keyring: file }, "the configured Serf key is not in this agent's keyring (a rotation replaced it); the keyring's keys are used: put the current key in the config so that new hosts can join");
  }
}

function keysIn(file: string): string[] {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return Array.isArray(parsed) ? parsed.filter((key): key is string => typeof key === 'string') : [];
  } catch {
    return [];
  }
}
