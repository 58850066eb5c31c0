// `grapevine keys list|rotate`: the fleet's Serf gossip keyring through the coordinator.
// A new key comes from a 0600 file or is written to one before the rotation starts, so a
// rotation that stops half-way can be run again with the same key; keys are never printed
// (only fingerprints) and never on a command line.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ValidationError, errorMessage } from '../shared/contract/errors.js';
import { keyFingerprint, newGossipKey, readGossipKeyFile } from '../shared/contract/gossip-key.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface KeysCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
}

export function registerKeysCommand(program: Command, { client, print }: KeysCommandDeps): void {
  const keys = program.command('keys').description("the fleet's Serf gossip keys (operator scope)");

  keys
    .command('list')
    .description('which keys the members hold, as fingerprints, and how many members hold each')
    .action(async () => {
      const list = await client().serfKeys();
      const lines = [
        `${list.answered} of ${list.members} members answered${list.complete ? '' : ' (not all: see the coordinator log and grapevine members)'}`,
        ...list.keys.map((key) => `${key.fingerprint}  on ${key.members} of ${list.members} members`),
        ...Object.entries(list.messages).map(([member, message]) => `${member}: ${message}`),
      ];
      print(list, lines.join('\n'));
    });

  keys
    .command('rotate')
    .description('install a new key on every member, make it the primary, then remove the old ones')
    .option('--key-file <file>', 'the new key, made by `serf keygen`, in a file only its owner may read (mode 0600; 0640 with a service group)')
    .option('--out <file>', 'make a new key and write it to this new file (mode 0600) before rotating to it')
    .action(async (options: { keyFile?: string; out?: string }) => {
      // The coordinator settings first: a new key is written only when it can be used at once.
      const coordinator = client();
      const key = newKeyFrom(options);
      const rotation = await coordinator.rotateSerfKey(key);
      const [first, last] = [rotation.steps[0], rotation.steps[rotation.steps.length - 1]];
      print(rotation, [
        `rotated the Serf key to ${rotation.key}: installed, made the primary${rotation.removed.length > 0 ? `, removed ${rotation.removed.join(', ')}` : ''}; ${last?.answered ?? 0} of ${first?.members ?? 0} members answered every step`,
        'next: put the new key in serf.encryptKeyFile on every host and on the coordinator, so that a new or rebuilt host joins with it (running members keep it in their keyring file)',
      ].join('\n'));
    });
}

function newKeyFrom(options: { keyFile?: string; out?: string }): string {
  if ((options.keyFile === undefined) === (options.out === undefined)) {
    throw new ValidationError('keys rotate needs one of --key-file FILE (a key made by `serf keygen`) or --out FILE (a new key written there)');
  }
  if (options.keyFile !== undefined) return readKeyFile(options.keyFile);
  const file = options.out!;
  const key = newGossipKey();
  try {
    // 'wx': never overwrite a file, which may hold the key in use.
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new ValidationError(`--out ${file} cannot be written (it must not exist yet): ${errorMessage(error)}`);
  }
  process.stderr.write(`new Serf key ${keyFingerprint(key)} written to ${file} (mode 0600)\n`);
  return key;
}

function readKeyFile(file: string): string {
  const read = readGossipKeyFile(file);
  if ('problem' in read) throw new ValidationError(`--key-file ${read.problem}`);
  return read.key;
}
