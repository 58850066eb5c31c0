// Serf gossip keys: what one looks like, a new one, and the short fingerprint that names
// a key in output and logs (a key itself is a secret and is never shown).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { errorMessage } from './errors.js';

/** What `serf keygen` prints: 16, 24 or 32 bytes in standard base64 (AES-128, -192 or -256). */
export const SERF_KEY = /^(?:[A-Za-z0-9+/]{22}==|[A-Za-z0-9+/]{32}|[A-Za-z0-9+/]{43}=)$/;

export function isSerfKey(text: string): boolean {
  return SERF_KEY.test(text);
}

/** A new AES-256 key, as `serf keygen` makes one. */
export function newGossipKey(): string {
  return randomBytes(32).toString('base64');
}

/** `sha256:3f9a2c1b7e4d`: tells keys apart without revealing them. */
export function keyFingerprint(key: string): string {
  return `sha256:${createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 12)}`;
}

/**
 * Reads a key file, refusing one any user may read or its group may change: anyone with the
 * key can join the gossip and fire deploy events. Mode 0600, or 0640 with a service's group
 * (install.sh: root:grapevine, for the coordinator's own user).
 */
export function readGossipKeyFile(file: string): { key: string } | { problem: string } {
  let text: string;
  try {
    if ((statSync(file).mode & 0o027) !== 0) return { problem: `(${file}) may be read or changed by other users: chmod 600 ${file} (or 640 with the service's group)` };
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    return { problem: `(${file}) cannot be read: ${errorMessage(error)}` };
  }
  if (!SERF_KEY.test(text)) return { problem: `(${file}) must hold one key made by \`serf keygen\` and nothing else` };
  return { key: text };
}
