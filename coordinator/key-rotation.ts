// Rotates the fleet's Serf gossip key through the coordinator's own Serf agent: install
// the new key on every member, make it the primary, then remove every other key. After
// each step every member must have answered; if one did not, the rotation stops before
// any old key is removed, so no member is left unable to read the others.
import { GrapevineError } from '../shared/contract/errors.js';
import { keyFingerprint } from '../shared/contract/gossip-key.js';
import type { Membership } from '../shared/ports/membership.js';
import { everyMemberAnswered, type KeyringAnswer, type SerfKeyring } from '../shared/ports/serf-keyring.js';

export type RotationStep = 'check' | 'install' | 'use' | 'remove' | 'verify';

export interface StepOutcome {
  step: RotationStep;
  /** Fingerprint of the key the step acted on. */
  key: string;
  members: number;
  answered: number;
}

export interface RotationReport {
  /** Fingerprint of the new primary key. */
  key: string;
  steps: StepOutcome[];
  /** Fingerprints of the keys removed. */
  removed: string[];
}

/** The rotation stopped at `step` because a member did not answer or failed; `report` says what was done. */
export class KeyRotationError extends GrapevineError {
  constructor(
    message: string,
    readonly step: RotationStep,
    readonly report: RotationReport,
  ) {
    super('key_rotation_stopped', message);
  }
}

const AGAIN = 'bring those members back (grapevine members; their agent logs), then run the same rotation again with the same key: every step is safe to repeat';

/** What each step leaves behind when it stops, for the operator reading the refusal. */
const LEFT_AT: Record<RotationStep, string> = {
  check: 'nothing was changed',
  install: 'no key was removed and the old key is still the primary, so gossip goes on',
  use: 'no key was removed; every member holds both keys, so gossip goes on whichever one a member encrypts with',
  remove: 'every member that answered uses the new key; an old key left installed somewhere does no harm until it is removed',
  verify: 'the steps were answered, but the keyring does not yet show the new key alone on every member',
};

export interface KeyRotationDeps {
  keyring: SerfKeyring;
  /** To name the members Serf does not see alive when some did not answer. */
  membership: Membership;
}

export async function rotateGossipKey({ keyring, membership }: KeyRotationDeps, newKey: string): Promise<RotationReport> {
  const report: RotationReport = { key: keyFingerprint(newKey), steps: [], removed: [] };
  const checked = async (step: RotationStep, key: string | undefined, answer: KeyringAnswer): Promise<KeyringAnswer> => {
    report.steps.push({ step, key: key === undefined ? report.key : keyFingerprint(key), members: answer.members, answered: answer.answered });
    if (!everyMemberAnswered(answer)) throw new KeyRotationError(await stopMessage(step, answer, membership), step, report);
    return answer;
  };

  const failed = (await membership.members()).filter((member) => member.status === 'failed').map((member) => member.name);
  if (failed.length > 0) {
    // A failed member misses every step: back with only the old key, it could not rejoin.
    const names = failed.join(', ');
    throw new KeyRotationError(`rotation refused: Serf lists ${names} as failed; it would miss the new key and be locked out when it comes back; ${LEFT_AT.check}; bring it back first, or if it is gone for good, remove it from the gossip with \`serf force-leave NAME\` against the coordinator's Serf agent (its RPC token in SERF_RPC_AUTH), then rotate`, 'check', report);
  }
  const before = await checked('check', undefined, await keyring.list());
  await checked('install', newKey, await keyring.install(newKey));
  await checked('use', newKey, await keyring.use(newKey));
  for (const old of Object.keys(before.keys).filter((key) => key !== newKey)) {
    await checked('remove', old, await keyring.remove(old));
    report.removed.push(keyFingerprint(old));
  }
  const after = await checked('verify', undefined, await keyring.list());
  const others = Object.keys(after.keys).filter((key) => key !== newKey);
  if (after.keys[newKey] !== after.members || others.length > 0) {
    const held = Object.entries(after.keys).map(([key, count]) => `${keyFingerprint(key)} on ${count}`).join(', ');
    throw new KeyRotationError(`rotation stopped at verify: the keyring shows ${held || 'no key'} of ${after.members} members; ${LEFT_AT.verify}; ${AGAIN}`, 'verify', report);
  }
  return report;
}

/** Names who failed (Serf names members that answered with an error) and, for the silent ones, the members Serf does not see alive. */
async function stopMessage(step: RotationStep, answer: KeyringAnswer, membership: Membership): Promise<string> {
  const parts = [`rotation stopped at ${step}: ${answer.answered} of ${answer.members} members answered`];
  const said = Object.entries(answer.messages).map(([member, message]) => `${member}: ${message}`);
  if (said.length > 0) parts.push(`${answer.errors} answered with an error (${said.join('; ')})`);
  const silent = answer.members - answer.answered;
  if (silent > 0) parts.push(`${silent} did not answer (${await notAlive(membership)})`);
  if (said.length === 0 && silent <= 0 && answer.error !== undefined) parts.push(`serf said: ${answer.error}`);
  return `${parts.join('; ')}; ${LEFT_AT[step]}; ${AGAIN}`;
}

async function notAlive(membership: Membership): Promise<string> {
  try {
    const down = (await membership.members()).filter((member) => member.status !== 'alive' && member.status !== 'left');
    return down.length === 0 ? 'Serf lists every member alive: one may be cut off' : `Serf lists ${down.map((m) => `${m.name} as ${m.status}`).join(', ')}`;
  } catch {
    return 'the member list could not be read';
  }
}
