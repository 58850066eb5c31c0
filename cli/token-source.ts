// Where the CLI's coordinator token comes from: GRAPEVINE_TOKEN, or a file (--token-file or
// GRAPEVINE_TOKEN_FILE). Never the command line, where every process list would show it.
import { readFileSync } from 'node:fs';
import { errorMessage, ValidationError } from '../shared/contract/errors.js';

export interface TokenSources {
  /** --token-file, which wins over the environment. */
  tokenFile?: string | undefined;
  /** A --token given anyway: refused, with where a token goes instead. */
  onCommandLine?: string | undefined;
  /** GRAPEVINE_TOKEN and GRAPEVINE_TOKEN_FILE. */
  env: { token?: string | undefined; tokenFile?: string | undefined };
}

/** The token to present; a ValidationError saying where to put one when there is none, or what is wrong with the file. */
export function cliToken({ tokenFile, onCommandLine, env }: TokenSources): string {
  if (onCommandLine !== undefined) {
    throw new ValidationError('--token is not taken (the command line shows in every process list): set GRAPEVINE_TOKEN or pass --token-file FILE');
  }
  const file = tokenFile ?? (env.token ? undefined : env.tokenFile || undefined);
  if (file === undefined) {
    if (env.token) return env.token;
    throw new ValidationError('no token: set GRAPEVINE_TOKEN, or pass --token-file FILE (or set GRAPEVINE_TOKEN_FILE) naming a file that holds it');
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ValidationError(`cannot read the token file ${file}: ${errorMessage(error)}`);
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) throw new ValidationError(`the token file ${file} must hold one token on one line`);
  return token;
}
