// `grapevine token create|list|revoke`: scoped credentials for people, CI and hosts. A new
// token is printed once, alone on stdout (so `> file` keeps only it); the rest goes to stderr.
import type { Command } from 'commander';
import { ValidationError } from '../shared/contract/errors.js';
import { parseDuration } from '../shared/contract/duration.js';
import { nodeName } from '../shared/contract/names.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import { credentialId, credentialName } from '../shared/contract/token-schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { SCOPES, type Credential, type Scope } from '../shared/ports/credentials.js';

export interface TokenCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
  json: () => boolean;
}

interface CreateOptions {
  scope: string;
  host?: string;
  name?: string;
  ttl?: string;
}

export function registerTokenCommands(program: Command, { client, print, json }: TokenCommandDeps): void {
  const token = program.command('token').description('scoped credentials (operator): viewer, deployer, operator, one host, or flags-reader (OFREP only)');

  token
    .command('create')
    .description('create a credential and print its token once on stdout (the details on stderr)')
    .requiredOption('--scope <scope>', `one of ${SCOPES.join(', ')}`)
    .option('--host <name>', 'with --scope host: the one host (Serf node name) it acts as')
    .option('--name <name>', 'a label for people, e.g. ci-web; a host credential is named after its host')
    .option('--ttl <duration>', 'how long it lives, e.g. 30m, 12h, 7d (at most 366d); never expires unless given')
    .action(async (options: CreateOptions) => {
      if (!(SCOPES as readonly string[]).includes(options.scope)) throw new ValidationError(`--scope must be one of ${SCOPES.join(', ')}; got ${options.scope}`);
      const scope = options.scope as Scope;
      if (scope === 'host' && options.host === undefined) throw new ValidationError('--scope host needs --host NAME: the one host the credential acts as');
      if (scope !== 'host' && options.host !== undefined) throw new ValidationError(`--host is only for --scope host; a ${scope} credential acts for no one host`);
      // Checked here too, so a typo is named before the coordinator is asked.
      if (options.ttl !== undefined) parseDuration(options.ttl, '--ttl');
      const created = await client().createToken({
        scope,
        ...(options.host === undefined ? {} : { host: parseOrThrow(nodeName, options.host, '--host') }),
        ...(options.name === undefined ? {} : { name: parseOrThrow(credentialName, options.name, '--name') }),
        ...(options.ttl === undefined ? {} : { ttl: options.ttl.trim() }),
      });
      if (json()) {
        print(created, '');
        return;
      }
      process.stderr.write(`created ${describe(created.credential)}; the token below is shown only this once\n`);
      process.stdout.write(`${created.token}\n`);
    });

  token
    .command('list')
    .description('credentials that have not expired, oldest first (never their tokens)')
    .action(async () => {
      const credentials = await client().listTokens();
      const head = `${'ID'.padEnd(12)} ${'SCOPE'.padEnd(12)} ${'NAME'.padEnd(20)} ${'HOST'.padEnd(12)} ${'EXPIRES'.padEnd(20)} CREATED BY`;
      const lines = credentials.map(
        (c) => `${c.id.padEnd(12)} ${c.scope.padEnd(12)} ${c.name.padEnd(20)} ${(c.host ?? '-').padEnd(12)} ${expiry(c).padEnd(20)} ${c.createdBy}`,
      );
      print(credentials, credentials.length === 0 ? 'no credentials (the bootstrap token of the config is not listed)' : [head, ...lines].join('\n'));
    });

  token
    .command('revoke <id>')
    .description('revoke a credential by its id (from token list): its token is refused at once')
    .action(async (id: string) => {
      const checked = parseOrThrow(credentialId, id, 'id');
      await client().revokeToken(checked);
      print({ id: checked, revoked: true }, `revoked ${checked}`);
    });
}

function describe(credential: Credential): string {
  const host = credential.host === undefined ? '' : ` for host ${credential.host}`;
  return `${credential.scope} credential ${credential.id} (${credential.name})${host}, ${expiry(credential) === 'never' ? 'never expires' : `expires ${expiry(credential)}`}`;
}

function expiry(credential: Credential): string {
  return credential.expiresAt === undefined ? 'never' : new Date(credential.expiresAt).toISOString().slice(0, 19).replace('T', ' ') + 'Z';
}
