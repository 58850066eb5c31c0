// Where the built CLI and the sample app live, and how the sample app is named and served.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DevClusterError } from './dev-cluster-error.js';

export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));
/**
 * The built CLI: one bundle (esbuild) rather than the compiled module tree, because Node
 * resolves and compiles hundreds of small modules at every start; the bundle starts in
 * about two thirds of the time, which every `grapevine deploy` pays. GRAPEVINE_BUNDLE names
 * another bundle's main.js, so two builds can each run their own local clusters side by side.
 */
export const CLI = process.env.GRAPEVINE_BUNDLE ?? join(PROJECT_ROOT, 'dist', 'bundle', 'main.js');
export const BASE_IMAGE = 'grapevine-base:bookworm';
export const SAMPLE_ROLE = 'web';
/**
 * Every tag the dev cluster builds, pushes and publishes (provisioning/sample-app/build.sh
 * builds the same list): `bad` fails its health check; `v3-errors` (about 30 % of GET / answered
 * 500) and `v3-slow` (GET / about 300 ms late) pass it and are worse only under traffic;
 * `v4-flags` shows the `new-banner` feature flag, read from the coordinator over OFREP.
 */
export const SAMPLE_TAGS = ['v1', 'v2', 'bad', 'v3-errors', 'v3-slow', 'v4-flags'] as const;
export const APP_PORT = 8080;
export const BUILD_SCRIPT = join(PROJECT_ROOT, 'provisioning', 'sample-app', 'build.sh');

/** Each environment has its own load balancer backend, as it would have its own load balancer. */
export function backendFor(env: string): string {
  return env === 'production' ? SAMPLE_ROLE : `${SAMPLE_ROLE}-${env}`;
}

/** The package root (where package.json is), from source or from dist/. */
function findProjectRoot(start: string): string {
  let dir = start;
  for (let depth = 0; depth < 6; depth++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'provisioning'))) return dir;
    dir = dirname(dir);
  }
  throw new DevClusterError(`cannot find the grapevine package root above ${start}`);
}
