// `grapevine route set|rm|default|list|usage ROLE --env ENV` and `grapevine cluster retire`:
// red-white routing of client versions to clusters of a role (README, "Red-white routing").
import type { Command } from 'commander';
import { parseDuration } from '../shared/contract/duration.js';
import { ValidationError } from '../shared/contract/errors.js';
import { envName, roleName } from '../shared/contract/names.js';
import { clientTypeName, clusterName, versionRange, type RouteUsage } from '../shared/contract/routing.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { RoutingClient, type RoutesView } from '../shared/coordinator-http/routing-client.js';

export interface RouteCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
}

interface GroupOptions {
  env: string;
}

/** The table as `route list` prints it: the routes in order (the first a request matches wins), then the default. */
export function routeLines(view: RoutesView): string[] {
  const routes = view.routes.map((r, i) => `${String(i + 1).padStart(2)}. ${(r.clientType ?? 'any').padEnd(8)} ${r.client.padEnd(20)} -> ${r.cluster}`);
  const clusters = view.clusters.map((c) => `${c.cluster}${c.retired ? ' (retired)' : ''}`).join(', ');
  return [`${view.role}/${view.env} on frontend ${view.frontend}`, ...(routes.length === 0 ? ['    no routes'] : routes), `    default          -> ${view.defaultCluster}`, `clusters: ${clusters || 'none'}`];
}

export function usageLines(usage: RouteUsage): string[] {
  const seconds = Math.round((usage.to - usage.from) / 1000);
  const rows = usage.clusters.map((c) => `${c.cluster.padEnd(12)} ${String(c.requests).padStart(9)} ${String(c.errors).padStart(6)}  ${c.backend}${c.retired ? '  (retired)' : ''}`);
  return [`${usage.role}/${usage.env}, last ${seconds} s`, `${'CLUSTER'.padEnd(12)} ${'REQUESTS'.padStart(9)} ${'5XX'.padStart(6)}  BACKEND`, ...rows];
}

const group = (role: string, options: GroupOptions) => ({ role: parseOrThrow(roleName, role, 'role'), env: parseOrThrow(envName, options.env, '--env') });
const clientTypeOf = (text: string | undefined) => (text === undefined ? undefined : parseOrThrow(clientTypeName, text, '--client-type'));

export function registerRouteCommands(program: Command, { client, print }: RouteCommandDeps): void {
  const routing = () => new RoutingClient(client());
  const route = program.command('route').description("route client versions to clusters of a role (X-Client-Version, X-Client-Type) through the load balancer");
  const printTable = (view: RoutesView) => print(view, routeLines(view).join('\n'));

  route
    .command('set <role>')
    .description('put a route first: requests of these client versions (and type) go to CLUSTER; replaces a route of the same client and type')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .requiredOption('--client <range>', "client versions: '>=1.1', '<1.1', '>=1.0 <1.2', '=1.2.3' or '*'")
    .option('--client-type <type>', 'only clients of this type (X-Client-Type), e.g. ios')
    .requiredOption('--cluster <name>', 'the cluster that answers them')
    .action(async (role: string, options: GroupOptions & { client: string; clientType?: string; cluster: string }) => {
      const { role: r, env } = group(role, options);
      const clientType = clientTypeOf(options.clientType);
      const body = { client: parseOrThrow(versionRange, options.client, '--client'), cluster: parseOrThrow(clusterName, options.cluster, '--cluster'), ...(clientType === undefined ? {} : { clientType }) };
      printTable(await routing().setRoute(r, env, body));
    });

  route
    .command('rm <role>')
    .description('remove the route of these client versions (and type)')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .requiredOption('--client <range>', 'the client versions of the route, as it was set')
    .option('--client-type <type>', 'the client type of the route, if it has one')
    .action(async (role: string, options: GroupOptions & { client: string; clientType?: string }) => {
      const { role: r, env } = group(role, options);
      printTable(await routing().removeRoute(r, env, parseOrThrow(versionRange, options.client, '--client'), clientTypeOf(options.clientType)));
    });

  route
    .command('default <role>')
    .description('the cluster for requests no route takes (no version, or one no route matches)')
    .requiredOption('--env <env>', 'environment, e.g. production')
    .requiredOption('--cluster <name>', 'the cluster')
    .action(async (role: string, options: GroupOptions & { cluster: string }) => {
      const { role: r, env } = group(role, options);
      printTable(await routing().setDefault(r, env, parseOrThrow(clusterName, options.cluster, '--cluster')));
    });

  route
    .command('list <role>')
    .description("the group's routes in order, its default cluster and the frontend's clusters")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .action(async (role: string, options: GroupOptions) => {
      const { role: r, env } = group(role, options);
      printTable(await routing().routes(r, env));
    });

  route
    .command('usage <role>')
    .description("requests and 5xx answers per cluster over a recent window, from the load balancer's own log")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .option('--window <duration>', "how far back: 90s, 5m, 1h (at most the relay's traffic retention)", '5m')
    .action(async (role: string, options: GroupOptions & { window: string }) => {
      const { role: r, env } = group(role, options);
      const windowMs = parseDuration(options.window, '--window');
      if (windowMs < 1000) throw new ValidationError(`--window must be at least 1s; got ${options.window}`);
      const usage = await routing().usage(r, env, windowMs);
      print(usage, usageLines(usage).join('\n'));
    });

  program
    .command('cluster')
    .description('clusters of a role')
    .command('retire <role>')
    .description("take CLUSTER's hosts out of the load balancer (operator); refused while a route or the default points at it")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .requiredOption('--cluster <name>', 'the cluster to retire')
    .action(async (role: string, options: GroupOptions & { cluster: string }) => {
      const { role: r, env } = group(role, options);
      const retired = await routing().retire(r, env, parseOrThrow(clusterName, options.cluster, '--cluster'));
      print(retired, `retired cluster ${retired.cluster} of ${retired.role}/${retired.env}: ${retired.servers} servers of ${retired.backend} in maintenance; a deploy with --cluster ${retired.cluster} brings it back`);
    });
}
