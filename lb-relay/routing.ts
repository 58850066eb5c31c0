// The relay's routed frontends (`routing` in its config): a route table put for a frontend is
// flattened into its types map and one ACL file per cluster (shared/haproxy/route-acl.ts),
// applied to the running HAProxy through its runtime API and written to disk (so HAProxy
// started or reloaded later reads the same table), one change per frontend at a time.
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import type { RelayRouting } from '../shared/contract/relay-config.js';
import { RouteTable } from '../shared/contract/routing.js';
import type { FrontendAnswer } from '../shared/haproxy/relay-contract.js';
import { flattenRoutes } from '../shared/haproxy/route-acl.js';
import type { PatternFile, RoutingRuntime } from '../shared/haproxy/route-runtime.js';
import { createRoutingFiles, routingFiles } from '../shared/haproxy/routed-frontend.js';
import type { BackendServer } from '../shared/ports/load-balancer.js';

export class FrontendRouter {
  readonly #config: RelayRouting;
  readonly #runtime: RoutingRuntime;
  readonly #logger: Logger;
  /** The change in progress per frontend: a second one waits for it, so files and HAProxy end on the later table. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: { config: RelayRouting; runtime: RoutingRuntime; logger: Logger }) {
    this.#config = options.config;
    this.#runtime = options.runtime;
    this.#logger = options.logger.child({ component: 'lb-relay-routing' });
  }

  /** Creates the files of every frontend that has none yet (HAProxy refuses to start without them). */
  async prepareFiles(): Promise<void> {
    const frontends = Object.entries(this.#config.frontends).map(([name, { clusters }]) => ({ name, clusters: Object.keys(clusters).map((cluster) => ({ cluster })) }));
    await createRoutingFiles(this.#config.dir, frontends);
  }

  async frontend(name: string): Promise<FrontendAnswer> {
    const clusters = this.#clusters(name);
    return { frontend: name, clusters: Object.entries(clusters).map(([cluster, backend]) => ({ cluster, backend })), routes: await this.#appliedTable(name) };
  }

  /** Throws UnknownClusterError (400) before anything is written when the table names a cluster the frontend lacks. */
  async setRoutes(name: string, table: RouteTable, actor: string): Promise<void> {
    const clusters = Object.keys(this.#clusters(name));
    const flat = flattenRoutes(table, clusters, name);
    const files: PatternFile[] = [
      { kind: 'map', file: routingFiles.types(name), lines: flat.types.map(([type, code]) => `${type} ${code}`) },
      ...clusters.map((cluster): PatternFile => ({ kind: 'acl', file: routingFiles.cluster(name, cluster), lines: flat.clusters[cluster] ?? [] })),
    ];
    const contents = [
      ...files.map((file) => ({ file: file.file, text: file.lines.map((line) => `${line}\n`).join('') })),
      { file: routingFiles.table(name), text: `${JSON.stringify(table, null, 2)}\n` },
    ];
    await this.#serially(name, async () => {
      // Staged beside the files, renamed into place only once HAProxy took the table: a refusal or
      // an HAProxy that does not answer leaves the files as they were, matching what it serves.
      const staged = await this.#stage(contents);
      try {
        await this.#runtime.apply(files);
        for (const { temporary, target } of staged) await rename(temporary, target);
      } finally {
        await Promise.all(staged.map(({ temporary }) => rm(temporary, { force: true })));
      }
    });
    this.#logger.info({ actor, frontend: name, routes: table.routes.length, defaultCluster: table.defaultCluster }, 'routes applied');
  }

  /** A retired cluster: every server of its backend into maintenance. */
  maintenance(backend: string): Promise<BackendServer[]> {
    return this.#runtime.maintenance(backend);
  }

  #clusters(name: string): Record<string, string> {
    const frontend = Object.hasOwn(this.#config.frontends, name) ? this.#config.frontends[name] : undefined;
    if (!frontend) {
      const known = Object.keys(this.#config.frontends).join(', ');
      throw new NotFoundError(`this relay routes no frontend ${JSON.stringify(name)} (its routing.frontends: ${known})`);
    }
    return frontend.clusters;
  }

  /** The table written last; null before the first, or when the file is not one (written by hand). */
  async #appliedTable(name: string): Promise<RouteTable | null> {
    let text: string;
    try {
      text = await readFile(path.join(this.#config.dir, routingFiles.table(name)), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      return RouteTable.parse(JSON.parse(text));
    } catch (error) {
      this.#logger.warn({ frontend: name, err: error }, 'the saved route table is not one; answering none');
      return null;
    }
  }

  /**
   * Each file's new content in a temp file of the same directory, for a rename: a reader (HAProxy
   * at a reload) sees the old file or the new one whole.
   */
  async #stage(contents: Array<{ file: string; text: string }>): Promise<Array<{ temporary: string; target: string }>> {
    const staged: Array<{ temporary: string; target: string }> = [];
    try {
      for (const { file, text } of contents) {
        const target = path.join(this.#config.dir, file);
        const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
        staged.push({ temporary, target });
        await writeFile(temporary, text);
        // Readable by HAProxy whatever the process's umask (the unit's is 0077).
        await chmod(temporary, 0o644);
      }
    } catch (error) {
      await Promise.all(staged.map(({ temporary }) => rm(temporary, { force: true })));
      throw error;
    }
    return staged;
  }

  async #serially<T>(name: string, work: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(name) ?? Promise.resolve();
    const run = before.then(work, work);
    const settled = run.catch(() => undefined);
    this.#queues.set(name, settled);
    try {
      return await run;
    } finally {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    }
  }
}
