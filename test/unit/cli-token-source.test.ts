// Where the CLI's token comes from: the environment or a file, never the command line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliToken } from '../../cli/token-source.js';

const dir = mkdtempSync(join(tmpdir(), 'gvtest-token-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tokenFile(content: string): string {
  const file = join(dir, `t${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, content, { mode: 0o600 });
  return file;
}

describe('cliToken', () => {
  it('reads GRAPEVINE_TOKEN', () => {
    expect(cliToken({ env: { token: 'gv_env' } })).toBe('gv_env');
  });

  it('prefers --token-file, then GRAPEVINE_TOKEN, then GRAPEVINE_TOKEN_FILE, trimming the line end', () => {
    const flag = tokenFile('gv_flag\n');
    const fromEnv = tokenFile('gv_file\n');
    expect(cliToken({ tokenFile: flag, env: { token: 'gv_env', tokenFile: fromEnv } })).toBe('gv_flag');
    expect(cliToken({ env: { token: 'gv_env', tokenFile: fromEnv } })).toBe('gv_env');
    expect(cliToken({ env: { tokenFile: fromEnv } })).toBe('gv_file');
  });

  it('refuses a token on the command line, none at all, and a file that is missing, empty or holds more than one word', () => {
    expect(() => cliToken({ onCommandLine: 'gv_x', env: { token: 'gv_env' } })).toThrow(/--token is not taken .*GRAPEVINE_TOKEN or pass --token-file/);
    expect(() => cliToken({ env: {} })).toThrow(/^no token: set GRAPEVINE_TOKEN, or pass --token-file FILE/);
    expect(() => cliToken({ tokenFile: join(dir, 'missing'), env: {} })).toThrow(/cannot read the token file .*missing/);
    expect(() => cliToken({ tokenFile: tokenFile('\n'), env: {} })).toThrow(/must hold one token on one line/);
    expect(() => cliToken({ tokenFile: tokenFile('gv_a gv_b\n'), env: {} })).toThrow(/must hold one token on one line/);
  });
});
