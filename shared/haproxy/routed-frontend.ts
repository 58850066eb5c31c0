// A frontend that routes client versions to clusters (README "Red-white routing"): the
// haproxy.cfg lines that compute a request's key (route-acl.ts) from X-Client-Version and
// X-Client-Type, and one integer ACL per cluster loaded from a file the relay rewrites and
// changes through the runtime API. No Lua: set-var with converters, as HAProxy 2.6 has them.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../contract/errors.js';
import { CLIENT_TYPE_HEADER, CLIENT_VERSION_HEADER, clusterName } from '../contract/routing.js';
import { TYPE_SPAN } from './route-acl.js';

export interface RoutedFrontend {
  /** The frontend's name, also the first part of its files' names. */
  name: string;
  /** ip:port it listens on. */
  bind: string;
  /** Absolute path (as HAProxy sees it) of the directory holding the types map and the clusters' ACL files. */
  dir: string;
  /** One backend per cluster; the first one is the last resort (`default_backend`) when no ACL matches. */
  clusters: Array<{ cluster: string; backend: string }>;
}

/** The names of a routed frontend's files in its directory; the relay writes them, HAProxy reads them at start. */
export const routingFiles = {
  types: (frontend: string) => `${frontend}.types.map`,
  cluster: (frontend: string, cluster: string) => `${frontend}.${cluster}.acl`,
  /** The table the files were made from, as the relay answers it (never read by HAProxy). */
  table: (frontend: string) => `${frontend}.routes.json`,
};

// The same grammar as shared/contract/routing.ts versionKey: a request that fails it has key -1.
// `[.]` rather than `\.`: a backslash is an escape in haproxy.cfg.
const VERSION_REGEX = '^[0-9]{1,4}([.][0-9]{1,4}){0,2}$';
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const SAFE_PATH = /^\/[A-Za-z0-9_.\/-]+$/;

export function validateRoutedFrontend(frontend: RoutedFrontend, backends: readonly string[]): void {
  const { name, dir, clusters } = frontend;
  if (!NAME.test(name)) throw new ValidationError(`routed frontend name ${JSON.stringify(name)} must be 1-64 letters, digits, _ . or -`);
  if (!path.isAbsolute(dir) || !SAFE_PATH.test(dir)) throw new ValidationError(`routed frontend ${name}: dir ${JSON.stringify(dir)} must be an absolute path of letters, digits, _ . / -`);
  if (clusters.length === 0) throw new ValidationError(`routed frontend ${name} needs at least one cluster`);
  for (const { cluster, backend } of clusters) {
    if (!clusterName.safeParse(cluster).success) throw new ValidationError(`routed frontend ${name}: cluster ${JSON.stringify(cluster)} must be 1-32 characters of a-z, 0-9 and -, starting with a letter`);
    if (!backends.includes(backend)) throw new ValidationError(`routed frontend ${name}: backend ${JSON.stringify(backend)} of cluster ${cluster} is not one of the backends`);
  }
  if (new Set(clusters.map((c) => c.cluster)).size !== clusters.length) throw new ValidationError(`routed frontend ${name}: cluster names must be unique`);
  if (new Set(clusters.map((c) => c.backend)).size !== clusters.length) throw new ValidationError(`routed frontend ${name}: each cluster needs a backend of its own`);
}

/** The frontend section; validate first (haproxy-config.ts does). */
export function routedFrontendLines(frontend: RoutedFrontend): string[] {
  const { name, bind, dir, clusters } = frontend;
  const file = (base: string) => path.posix.join(dir, base);
  const ifVersion = 'if gv_version';
  const lines = [
    `frontend ${name}`,
    `  bind ${bind}`,
    `  acl gv_version req.hdr(${CLIENT_VERSION_HEADER}) -m reg ${VERSION_REGEX}`,
    // -1 unless the version is well formed; 0 (no route's type) unless the map knows the type.
    '  http-request set-var(txn.gv_key) int(-1)',
    '  http-request set-var(txn.gv_type) int(0)',
    `  http-request set-var(txn.gv_type) req.hdr(${CLIENT_TYPE_HEADER}),lower,map_str_int(${file(routingFiles.types(name))},0)`,
    // `.0.0` appended makes MINOR and PATCH present when the client leaves them out (1 is 1.0.0).
    `  http-request set-var(txn.gv_ver) req.hdr(${CLIENT_VERSION_HEADER}),concat(.0.0) ${ifVersion}`,
    `  http-request set-var(txn.gv_major) var(txn.gv_ver),field(1,.),mul(100000000) ${ifVersion}`,
    `  http-request set-var(txn.gv_minor) var(txn.gv_ver),field(2,.),mul(10000) ${ifVersion}`,
    `  http-request set-var(txn.gv_patch) var(txn.gv_ver),field(3,.) ${ifVersion}`,
    `  http-request set-var(txn.gv_key) var(txn.gv_type),mul(${TYPE_SPAN}),add(txn.gv_major),add(txn.gv_minor),add(txn.gv_patch) ${ifVersion}`,
  ];
  for (const { cluster } of clusters) {
    lines.push(`  acl gv_c_${cluster} var(txn.gv_key) -m int -f ${file(routingFiles.cluster(name, cluster))}`);
  }
  for (const { cluster, backend } of clusters) lines.push(`  use_backend ${backend} if gv_c_${cluster}`);
  // Only between two commits of a change, or before the relay ever wrote a table: every key is in some file.
  lines.push(`  default_backend ${clusters[0]!.backend}`);
  return lines;
}

/**
 * Creates the frontend's files in `dir` (the path on this machine, which may differ from the one
 * HAProxy sees) when they do not exist: HAProxy refuses to start on a missing ACL or map file.
 * Existing files are kept, so that a restart serves the routes last applied.
 */
export async function createRoutingFiles(dir: string, frontends: ReadonlyArray<{ name: string; clusters: ReadonlyArray<{ cluster: string }> }>): Promise<void> {
  for (const { name, clusters } of frontends) {
    for (const base of [routingFiles.types(name), ...clusters.map(({ cluster }) => routingFiles.cluster(name, cluster))]) {
      try {
        const handle = await open(path.join(dir, base), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL);
        // Readable by HAProxy whatever the process's umask.
        await handle.chmod(0o644);
        await handle.close();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }
}
