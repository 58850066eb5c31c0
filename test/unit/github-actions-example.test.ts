// The GitHub Actions example (examples/github-actions/deploy.yml) cannot rot: every
// `grapevine` command its steps run must exist in the CLI as built from this checkout, take
// the flags and arguments given, and get its token only from a secret through the step's
// environment. The CLI's own --help is the reference, as a person copying the example reads it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { bundleCli } from '../fixtures/cli-against-coordinator.js';

const WORKFLOW = 'examples/github-actions/deploy.yml';

interface Step {
  name?: string;
  run?: string;
  env?: Record<string, string>;
  if?: string;
}
interface Workflow {
  env?: Record<string, string>;
  jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
}

/** One `grapevine ...` the workflow runs: its words after `grapevine`, and the environment of its step. */
interface Invocation {
  step: string;
  words: string[];
  env: Record<string, string>;
}

/** What `grapevine <path> --help` says a command takes. */
interface CommandHelp {
  subcommands: string[];
  /** Option names (`--env`), each with whether it takes a value. */
  options: Map<string, boolean>;
  required: number;
  optional: number;
}

const dir = mkdtempSync(join(tmpdir(), 'gvtest-actions-'));
let cli = '';
/** Each command's help, asked once; side by side when several commands are checked at once. */
const helps = new Map<string, Promise<CommandHelp>>();

beforeAll(async () => {
  cli = await bundleCli(dir);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function help(path: string[]): Promise<CommandHelp> {
  const key = path.join(' ');
  let asked = helps.get(key);
  if (!asked) {
    asked = execa(process.execPath, [cli, ...path, '--help'], { reject: false, timeout: 20_000, extendEnv: false, env: { PATH: process.env.PATH ?? '' } }).then((shown) => {
      if (shown.exitCode !== 0) throw new Error(`grapevine ${key} --help exited ${shown.exitCode}: ${shown.stderr}`);
      return parseHelp(shown.stdout);
    });
    helps.set(key, asked);
  }
  return asked;
}

/** Commander's help: the usage line's arguments, the options' names and values, the subcommands' names. */
function parseHelp(text: string): CommandHelp {
  const usage = /^Usage: (.*)$/m.exec(text)?.[1] ?? '';
  const args = usage.split(' ').slice(1).filter((word) => word !== '[options]' && word !== '[command]');
  const options = new Map<string, boolean>();
  const subcommands: string[] = [];
  let section = '';
  for (const line of text.split('\n')) {
    if (/^\S.*:$/.test(line)) section = line;
    const option = /^ {2}(?:-\w, )?(--[\w-]+)( [<[])?/.exec(line);
    if (section === 'Options:' && option) options.set(option[1] as string, option[2] !== undefined);
    const command = /^ {2}([a-z][\w-]*)\b/.exec(line);
    if (section === 'Commands:' && command && command[1] !== 'help') subcommands.push(command[1] as string);
  }
  return {
    subcommands,
    options,
    required: args.filter((word) => word.startsWith('<')).length,
    optional: args.filter((word) => word.startsWith('[')).length,
  };
}

/** Shell words and the operators between commands, quotes removed; `$VAR` kept as written. */
function shellWords(script: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  const text = script.replace(/\\\n/g, ' ');
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else word = (word ?? '') + c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '#' && word === undefined) {
      while (i < text.length && text[i] !== '\n') i += 1;
      words.push(';');
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      if (c === '\n') words.push(';');
    } else if (';|&()'.includes(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      words.push(';');
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`unclosed ${quote} in: ${script}`);
  if (word !== undefined) words.push(word);
  return words;
}

/** Every command of a step's script whose program is `grapevine`, after any keyword or variable assignment. */
function grapevineCommands(script: string): string[][] {
  const commands: string[][] = [];
  let current: string[] = [];
  for (const word of [...shellWords(script), ';']) {
    if (word !== ';') {
      current.push(word);
      continue;
    }
    while (current.length > 0 && (['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time', 'exec'].includes(current[0] as string) || /^[A-Za-z_]\w*=/.test(current[0] as string))) current.shift();
    if (current[0] === 'grapevine') commands.push(current.slice(1));
    current = [];
  }
  return commands;
}

function invocations(): Invocation[] {
  const workflow = parseYaml(readFileSync(WORKFLOW, 'utf8')) as Workflow;
  const found: Invocation[] = [];
  for (const job of Object.values(workflow.jobs)) {
    for (const step of job.steps) {
      if (step.run === undefined) continue;
      for (const words of grapevineCommands(step.run)) found.push({ step: step.name ?? step.run, words, env: { ...workflow.env, ...job.env, ...step.env } });
    }
  }
  return found;
}

/** Why `words` (after `grapevine`) would not run as written; undefined when it would. */
async function problemOf(words: string[]): Promise<string | undefined> {
  const top = await help([]);
  const path: string[] = [];
  let rest = [...words];
  let command = top;
  // Global options may come before the command.
  while (rest[0]?.startsWith('--')) {
    const takesValue = top.options.get(rest[0].split('=')[0] as string);
    if (takesValue === undefined) break;
    rest = rest.slice(takesValue && !rest[0].includes('=') ? 2 : 1);
  }
  while (rest.length > 0 && command.subcommands.includes(rest[0] as string)) {
    path.push(rest.shift() as string);
    command = await help(path);
  }
  if (path.length === 0 || command.subcommands.length > 0) return `no such command: grapevine ${words.join(' ')}`;
  let positional = 0;
  for (let i = 0; i < rest.length; i += 1) {
    const word = rest[i] as string;
    if (!word.startsWith('-')) {
      positional += 1;
      continue;
    }
    const name = word.split('=')[0] as string;
    const takesValue = command.options.get(name) ?? top.options.get(name);
    if (takesValue === undefined) return `grapevine ${path.join(' ')} takes no ${name}`;
    if (takesValue && !word.includes('=')) {
      if (i + 1 >= rest.length) return `${name} needs a value`;
      i += 1;
    }
  }
  if (positional < command.required || positional > command.required + command.optional) {
    return `grapevine ${path.join(' ')} takes ${command.required}${command.optional > 0 ? `-${command.required + command.optional}` : ''} arguments, given ${positional}`;
  }
  return undefined;
}

describe('the GitHub Actions example', () => {
  it('runs publish, deploy --wait, mark-broken and rollback, each as the CLI takes them', async () => {
    const found = invocations();
    expect(found.map((run) => run.words.slice(0, run.words[0] === 'release' ? 2 : 1).join(' '))).toEqual(
      expect.arrayContaining(['release publish', 'deploy', 'mark-broken', 'rollback', 'history', 'audit']),
    );
    expect(found.find((run) => run.words[0] === 'deploy')?.words).toContain('--wait');
    const problems = await Promise.all(found.map((run) => problemOf(run.words)));
    for (const [i, run] of found.entries()) expect(problems[i], `${run.step}: grapevine ${run.words.join(' ')}`).toBeUndefined();
  }, 60_000);

  it('catches a command or flag the CLI does not take', async () => {
    expect(await problemOf(['deploy', 'web', '--env', 'production', '--tag', 'v1', '--wait'])).toBeUndefined();
    expect(await problemOf(['deploy', 'web', '--environment', 'production'])).toBe('grapevine deploy takes no --environment');
    expect(await problemOf(['release', 'push', 'web', 'v1'])).toBe('no such command: grapevine release push web v1');
    expect(await problemOf(['mark-broken', 'web', '--reason', 'x'])).toBe('grapevine mark-broken takes 2 arguments, given 1');
    expect(await problemOf(['deploy', 'web', '--env'])).toBe('--env needs a value');
    // The hidden --token is refused by the CLI: the example must not use it either.
    expect(await problemOf(['deploy', 'web', '--env', 'production', '--token', 'x'])).toBe('grapevine deploy takes no --token');
  }, 60_000);

  it('gives every grapevine a coordinator and a token from a secret, through the environment only', () => {
    for (const run of invocations()) {
      expect(run.env.GRAPEVINE_TOKEN, run.step).toMatch(/^\$\{\{ secrets\.GRAPEVINE_[A-Z_]+_TOKEN \}\}$/);
      expect(run.env.GRAPEVINE_COORDINATOR, run.step).toBeDefined();
      expect(run.words.join(' '), run.step).not.toMatch(/secrets\.|--token|GRAPEVINE_TOKEN/);
    }
    // Marking broken needs an operator; everything else runs as the deployer.
    const tokens = new Map(invocations().map((run) => [run.words[0], run.env.GRAPEVINE_TOKEN]));
    expect(tokens.get('mark-broken')).toBe('${{ secrets.GRAPEVINE_OPERATOR_TOKEN }}');
    for (const command of ['release', 'deploy', 'rollback']) expect(tokens.get(command)).toBe('${{ secrets.GRAPEVINE_DEPLOYER_TOKEN }}');
  });
});
