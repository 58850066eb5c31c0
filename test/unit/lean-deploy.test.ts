// The lean reading of `grapevine deploy` (cli/lean-deploy.ts) against commander's: every line
// the lean reading takes, commander reads the same way (the globals, the role, each option)
// and the command's name checks pass; every other line is left to commander, whose help and
// errors stay the only ones. Lines drawn at random from the words a CI job or a person types.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cliContext, type GlobalOptions } from '../../cli/cli-context.js';
import { checkDeployNames, registerDeployCommand } from '../../cli/deploy-commands.js';
import type { DeployOptions } from '../../cli/deploy-start.js';
import { leanDeployLine } from '../../cli/lean-deploy.js';
import { grapevineProgram } from '../../cli/program.js';

interface Reading {
  globals: GlobalOptions;
  role: string;
  options: DeployOptions;
}

class ActionReached extends Error {}

/** What commander hands `grapevine deploy`'s action for `args`, or 'refused' (help, a usage error). */
async function commanderReading(args: readonly string[]): Promise<Reading | 'refused'> {
  const program = grapevineProgram().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerDeployCommand(program, cliContext(program, { terminal: { dumb: true, noColor: true } }));
  let reading: Reading | undefined;
  program.hook('preAction', (_program, action) => {
    reading = { globals: program.opts<GlobalOptions>(), role: action.processedArgs[0] as string, options: action.opts<DeployOptions>() };
    // Stop before the action: it would reach for a coordinator.
    throw new ActionReached();
  });
  try {
    await program.parseAsync(['node', 'grapevine', ...args]);
  } catch (error) {
    if (error instanceof ActionReached) return reading!;
  }
  return 'refused';
}

/** The lean reading must agree with commander's wherever it takes a line. */
async function expectAgreement(args: readonly string[]): Promise<boolean> {
  const lean = leanDeployLine(args);
  if (lean === undefined) return false;
  const commander = await commanderReading(args);
  expect(commander, `commander refused ${JSON.stringify(args)}, which the lean reading took`).not.toBe('refused');
  expect(lean, JSON.stringify(args)).toEqual(commander);
  expect(() => checkDeployNames(lean.role, lean.options)).not.toThrow();
  return true;
}

const ROLES = ['web', 'api-2', 'Web', '', '2web', 'deploy', 'help', 'a'.repeat(33)];
const WORDS = [
  ...ROLES,
  '-',
  '--',
  '-h',
  '--help',
  '--env',
  '--env=',
  '--env=staging',
  'production',
  '--tag',
  '--tag=',
  'v1.2',
  '.bad',
  '--strategy',
  'canary',
  'bogus',
  '--cluster',
  '--cluster=red',
  '--max-per-zone',
  '2',
  'two',
  '--zone-at-a-time',
  '--force',
  '--force=yes',
  '--wait',
  '--json',
  '--coordinator',
  '--coordinator=http://c2:7700',
  'http://c1:7700,http://c2:7700',
  '--token-file',
  '/run/gv/token',
  '--token',
  '--ca-file',
  'ca.pem',
  '--unknown',
  '-x',
];

describe('grapevine deploy, read lean', () => {
  it('takes the lines CI runs, reading them as commander does', async () => {
    const lines = [
      ['deploy', 'web', '--env', 'production'],
      ['deploy', 'web', '--env', 'production', '--tag', 'v1.2'],
      ['--coordinator', 'http://c1:7700,http://c2:7700', 'deploy', 'web', '--env=staging', '--tag=v2'],
      ['deploy', '--env', 'production', 'web', '--token-file', '/run/gv/token', '--ca-file', 'ca.pem'],
      ['deploy', 'web', '--env', 'production', '--strategy', 'canary', '--cluster', 'red', '--max-per-zone', '2', '--force'],
      ['deploy', 'web', '--env', 'production', '--zone-at-a-time', '--tag', ''],
      ['deploy', 'web', '--env', 'staging', '--env', 'production', '--coordinator', 'http://a:1', '--coordinator=http://b:2'],
      ['deploy', 'web', '--env', 'production', '--max-per-zone', 'two'],
    ];
    for (const args of lines) expect(await expectAgreement(args), JSON.stringify(args)).toBe(true);
  });

  it('leaves help, --wait, --json, --token, bad names and doubtful values to commander', () => {
    const lines = [
      ['deploy', '--help'],
      ['deploy', 'web', '--env', 'production', '-h'],
      ['help', 'deploy'],
      ['deploy', 'web', '--env', 'production', '--wait'],
      ['--json', 'deploy', 'web', '--env', 'production'],
      ['deploy', 'web', '--env', 'production', '--token', 'secret'],
      ['deploy', 'web'],
      ['deploy', 'web', 'api', '--env', 'production'],
      ['deploy', 'Web', '--env', 'production'],
      ['deploy', 'web', '--env', 'production', '--tag', '.bad'],
      ['deploy', 'web', '--env', 'production', '--strategy', 'bogus'],
      ['deploy', 'web', '--env', 'production', '--cluster', ''],
      ['deploy', 'web', '--env', 'production', '--tag', '--force'],
      ['deploy', 'web', '--env', 'production', '--force=yes'],
      ['--env', 'production', 'deploy', 'web'],
      ['deploy', 'web', '--env', 'production', '--', '--force'],
      ['deploy', 'web', '--env', 'production', '--unknown'],
      ['status', 'd-abc123'],
      [],
    ];
    for (const args of lines) expect(leanDeployLine(args), JSON.stringify(args)).toBeUndefined();
  });

  it('agrees with commander on every line it takes, of random words', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...WORDS), { maxLength: 10 }), async (words) => {
        await expectAgreement(['deploy', ...words]);
      }),
      { numRuns: 400 },
    );
  });

  it('takes every well-formed deploy line, its globals and options in any order, as commander reads it', async () => {
    const optional: string[][] = [
      ['--tag', 'v1.2'],
      ['--tag='],
      ['--strategy', 'canary'],
      ['--cluster', 'red'],
      ['--max-per-zone', '2'],
      ['--zone-at-a-time'],
      ['--force'],
      ['--coordinator', 'http://c1:7700'],
      ['--coordinator=http://c2:7700'],
      ['--token-file', '/run/gv/token'],
      ['--ca-file', 'ca.pem'],
      ['--env', 'staging'],
    ];
    const globalsFirst = fc.array(fc.constantFrom(['--coordinator', 'http://c0:7700'], ['--ca-file=root.pem']), { maxLength: 2 });
    const line = fc.tuple(globalsFirst, fc.shuffledSubarray(optional), fc.nat(), fc.nat(), fc.constantFrom<string[]>(['--env', 'production'], ['--env=production']));
    await fc.assert(
      fc.asyncProperty(line, async ([before, after, envAt, roleAt, env]) => {
        const rest = [...after];
        rest.splice(envAt % (rest.length + 1), 0, env);
        rest.splice(roleAt % (rest.length + 1), 0, ['web']);
        const args = [...before.flat(), 'deploy', ...rest.flat()];
        expect(await expectAgreement(args), `the lean reading left ${JSON.stringify(args)}`).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
