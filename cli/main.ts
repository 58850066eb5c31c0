#!/usr/bin/env node
// The `grapevine` command: exit 0 on success, 1 when a deploy failed or was cancelled,
// 2 on bad input or an unreachable service, with a one-line reason on stderr.
// CI calls `grapevine deploy` on every build, and its start-up time is part of every deploy's
// wall time: a plain one (no --wait, --json or help) runs through cli/lean-deploy.ts, which
// loads neither commander nor zod; every other line goes to the full program
// (cli/program.ts), loaded only then. The two are bundled apart (package.json, bundle): this
// file and what it imports make one file, read at once, and the program's errors are handled
// inside it, so that no error class crosses from one bundle to the other.
import { reportFailure } from './exit-status.js';
import { leanDeployLine, runLeanDeploy } from './lean-deploy.js';

// Read here, not through shared/config, which would build every config schema on the
// path of each `grapevine deploy` a CI job runs.
const env = {
  coordinator: process.env.GRAPEVINE_COORDINATOR,
  token: process.env.GRAPEVINE_TOKEN,
  tokenFile: process.env.GRAPEVINE_TOKEN_FILE,
  caFile: process.env.GRAPEVINE_CA_FILE,
  /** How `--wait` draws on a terminal: no cursor moves on a dumb one, no colour with NO_COLOR (no-color.org). */
  terminal: { dumb: process.env.TERM === 'dumb', noColor: (process.env.NO_COLOR ?? '') !== '' },
};

const lean = leanDeployLine(process.argv.slice(2));
if (lean) {
  try {
    await runLeanDeploy(lean, env);
  } catch (error) {
    reportFailure(error);
  }
} else {
  const { runProgram } = await import('./program.js');
  await runProgram(process.argv, env);
}
