// Configuration for each process: a YAML or JSON file plus GRAPEVINE_* environment
// overrides, parsed once at start. Every problem is listed in one ConfigError.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as z from 'zod';
import { ConfigError, errorMessage } from './errors.js';
import { envName, nodeName, roleName } from './names.js';
import { RoleConfig, absolutePath, roleHookProblems } from './role-config.js';
import { roleHealthProblems } from './role-health.js';
import { roleJobProblems } from './role-job.js';
import { describeIssues } from './schemas.js';
import { DEFAULT_SLOTS } from './slot-count.js';
import { SerfConfig, devModeSetting, settleSerfKey } from './serf-config.js';
import { AllowedRegistries, registryProblems } from './allowed-registries.js';
import { CaFile, ServerTls } from './tls-config.js';
import { AgentLoadBalancerConfig } from './load-balancer-config.js';
import { AgentMetricsConfig } from './metrics-config.js';
import { NotificationTargetsConfig, settleNotificationTargets } from './notification-config.js';
import { RoleStrategyConfig } from './strategy.js';
import { clusterName } from './routing.js';
import { zoneName } from './zone-rule.js';
import { CoordinatorUrlSetting } from './coordinator-url-setting.js';
import { RedisSetting } from './redis-config.js';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

export { SerfConfig } from './serf-config.js';

/** "1/3", "0.5" or a whole number of slots. */
const slotsSetting = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^(\d+\/\d+|0?\.\d+|1(\.0+)?)$/, 'must be a fraction like "1/3" or "0.25", or a whole number')
    .refine((text) => fractionOf(text) > 0 && fractionOf(text) <= 1, 'must be a fraction above 0 and at most 1'),
]);

function fractionOf(text: string): number {
  const [num, den] = text.split('/');
  return den === undefined ? Number(num) : Number(num) / Number(den);
}

export const AgentConfig = z.object({
  node: nodeName,
  env: envName,
  roles: z.record(roleName, RoleConfig).refine((roles) => Object.keys(roles).length > 0, 'must name at least one role'),
  /** The cluster of its roles this host belongs to (red-white routing): its Serf tag `cluster`; none unless set. */
  cluster: clusterName.optional(),
  /** The zone this host stands in (rack, availability zone): its Serf tag `zone`, which a deploy's --max-per-zone counts by; none is zone "". */
  zone: zoneName.optional(),
  serf: SerfConfig,
  devMode: devModeSetting,
  redis: RedisSetting,
  /** url: the fleet's coordinators, one URL, comma-separated or a list (README, "Two coordinators"), tried in turn. */
  coordinator: z.object({ url: CoordinatorUrlSetting, token: z.string().min(1) }),
  caFile: CaFile.optional(),
  loadBalancer: AgentLoadBalancerConfig,
  /**
   * How long a slot grant lasts unless renewed (every third of it); a host confirms it before
   * it drains, starts the new version and registers. Short, so a dead or cut-off holder's
   * slot is free again within seconds (it still counts against k until it serves again).
   */
  slotLeaseMs: z.number().int().min(1000).max(120_000).default(15_000),
  /** The longest one deploy step (drain, pull, up, health, register, release) may take, retries included. */
  stepDeadlineMs: z.number().int().min(1000).default(5 * 60_000),
  /** The 15-minute lock of earlier versions: refused with a pointer to what replaced it, never silently ignored. */
  lockTtlMs: z
    .unknown()
    .refine((value) => value === undefined, 'is gone: a slot lease is now short (slotLeaseMs, default 15000) and each step has its own bound (stepDeadlineMs)')
    .optional(),
  /** No longer read (events come over Serf's RPC stream, serf-event-stream.ts); accepted so that older config files still load. */
  eventPipe: absolutePath.optional(),
  dockerSocket: absolutePath.default('/var/run/docker.sock'),
  /**
   * Folder (created 0700) for what the agent keeps across restarts: the highest deploy it
   * applied per role and environment. Unset: `agent` beside serf.dataDir, so
   * /var/lib/grapevine/agent on a host set up by provisioning/ and one per host in the dev cluster.
   */
  stateDir: absolutePath.optional(),
  /** Where the agent serves GET /metrics for Prometheus (shared/contract/metrics-config.ts); not served unless set. */
  metrics: AgentMetricsConfig.optional(),
  logLevel,
});
export type AgentConfig = z.infer<typeof AgentConfig>;

export const CoordinatorConfig = z.object({
  /** This coordinator's Serf node name and its name in the lease: two coordinators of one fleet need two names. */
  name: nodeName.default('grapevine-coordinator'),
  /**
   * The lease that picks which of the fleet's coordinators runs the watchdog and the strategy
   * runner (README, "Two coordinators"): renewed every third of ttlMs; a lapsed one is taken
   * by the other coordinator within about ttlMs plus a third of it.
   */
  lease: z.strictObject({ ttlMs: z.number().int().min(1000).max(120_000).default(6_000) }).prefault({}),
  listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(7700) }),
  redis: RedisSetting,
  token: z.string().min(8, 'must be at least 8 characters'),
  tls: ServerTls.optional(),
  /** Registry that images of published releases live in, when a publish names no image. */
  registry: z.string().regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, 'must be a registry address like 127.0.0.1:5000'),
  /** The registries (or path prefixes in one) release images may come from; `registry` alone, over https, when unset. */
  registries: AllowedRegistries.optional(),
  serf: SerfConfig,
  devMode: devModeSetting,
  /** Roles whose successful deploy in `from` is deployed to `to` by the coordinator itself. */
  promote: z
    .record(
      roleName,
      z
        .object({ from: envName.default('staging'), to: envName.default('production') })
        .refine((step) => step.from !== step.to, 'from and to must be different environments'),
    )
    .default({}),
  /** How many of a deploy's target hosts may deploy at once: "1/3" (of the targets, rounded up), "0.25", or a whole number. */
  slots: slotsSetting.default(DEFAULT_SLOTS),
  /** A deploy still in progress after this long ends `failed`, naming the hosts that did not finish. */
  deployDeadlineMs: z.number().int().min(1000).default(30 * 60_000),
  /** The dashboard's base URL as people reach it, for the links in notifications; the coordinator's own URL when unset. */
  publicUrl: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  /** Webhooks told of deploys, rollbacks, promotions and broken releases (shared/contract/notification-config.ts); none unless set. */
  notifications: NotificationTargetsConfig.default([]),
  /** Per role, its deploy strategy and what the canary and blue/green strategies need (shared/contract/strategy.ts); rolling unless set. */
  strategies: z.record(roleName, RoleStrategyConfig).default({}),
  /**
   * How the coordinator reaches the load balancer for the strategies (canary weights and figures,
   * blue/green switches): the relay (`grapevine lb-relay`), with an operator credential's token
   * read from a 0600 file. Canary and blue/green deploys are refused without it.
   */
  loadBalancer: z
    .strictObject({
      relay: z.strictObject({
        url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
        tokenFile: absolutePath,
        /** PEM file of the CAs that sign the relay's certificate; Node.js's public CAs without it. */
        caFile: absolutePath.optional(),
      }),
    })
    .optional(),
  /**
   * Red-white routing (README, "Red-white routing"): per role and environment, the HAProxy
   * frontend (the relay's `routing.frontends`) whose route table the coordinator keeps. Needs
   * loadBalancer.relay; a group without an entry has no routes.
   */
  routing: z.record(roleName, z.record(envName, z.strictObject({ frontend: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -') }))).default({}),
  /**
   * Quarantine after the fact (README, "Quarantine"): how long after a broken mark (or the end of
   * a deploy of a broken release) the coordinator leaves to an operator's own rollback or deploy
   * before it rolls back the hosts still on the release itself.
   */
  quarantine: z.strictObject({ graceMs: z.number().int().min(0).max(60 * 60_000).default(60_000) }).prefault({}),
  /** The fleet-wide audit log (a Redis stream): entries beyond either cap are trimmed. */
  audit: z
    .object({
      /** Entries kept at most (about: Redis trims whole blocks of 100). */
      maxEntries: z.number().int().min(100).max(10_000_000).default(100_000),
      /** Entries older than this many days are trimmed and never shown. */
      maxAgeDays: z.number().int().min(1).max(3650).default(90),
    })
    .strict()
    .prefault({}),
  logLevel,
});
export type CoordinatorConfig = z.infer<typeof CoordinatorConfig>;

type Env = Record<string, string | undefined>;

/** Which GRAPEVINE_* variable overrides which config field, and how it is parsed. */
const AGENT_ENV: Record<string, [string[], (v: string) => unknown]> = {
  GRAPEVINE_NODE: [['node'], String],
  GRAPEVINE_ENV: [['env'], String],
  GRAPEVINE_REDIS_URL: [['redis'], String],
  GRAPEVINE_COORDINATOR: [['coordinator', 'url'], String],
  GRAPEVINE_TOKEN: [['coordinator', 'token'], String],
  GRAPEVINE_CA_FILE: [['caFile'], String],
  GRAPEVINE_SERF_RPC_AUTH: [['serf', 'rpcAuth'], String],
  GRAPEVINE_SERF_ENCRYPT_KEY: [['serf', 'encryptKey'], String],
  GRAPEVINE_SLOT_LEASE_MS: [['slotLeaseMs'], Number],
  GRAPEVINE_STEP_DEADLINE_MS: [['stepDeadlineMs'], Number],
  GRAPEVINE_LOG_LEVEL: [['logLevel'], String],
};

const COORDINATOR_ENV: Record<string, [string[], (v: string) => unknown]> = {
  GRAPEVINE_COORDINATOR_NAME: [['name'], String],
  GRAPEVINE_REDIS_URL: [['redis'], String],
  GRAPEVINE_TOKEN: [['token'], String],
  GRAPEVINE_PORT: [['listen', 'port'], Number],
  GRAPEVINE_SERF_RPC_AUTH: [['serf', 'rpcAuth'], String],
  GRAPEVINE_SERF_ENCRYPT_KEY: [['serf', 'encryptKey'], String],
  GRAPEVINE_DEPLOY_DEADLINE_MS: [['deployDeadlineMs'], Number],
  GRAPEVINE_LOG_LEVEL: [['logLevel'], String],
};

export function loadAgentConfig(file: string | undefined, env: Env): AgentConfig {
  const loaded = load(AgentConfig, file, env, AGENT_ENV, 'agent config');
  const { serf, problems: serfProblems } = settleSerfKey(loaded.serf, loaded.devMode);
  const config = { ...loaded, serf };
  const problems = [
    ...serfProblems,
    ...roleHealthProblems(config.roles, config.stepDeadlineMs, parseYaml),
    ...roleJobProblems(config.roles, parseYaml),
    ...roleHookProblems(config.roles, config.stepDeadlineMs),
  ];
  if (problems.length > 0) throw new ConfigError(`agent config${file ? ` (${file})` : ''} is invalid: ${problems.join('; ')}`);
  return config;
}

export function loadCoordinatorConfig(file: string | undefined, env: Env): CoordinatorConfig {
  const loaded = load(CoordinatorConfig, file, env, COORDINATOR_ENV, 'coordinator config');
  const { serf, problems: serfProblems } = settleSerfKey(loaded.serf, loaded.devMode);
  const config = { ...loaded, serf };
  const problems = [...serfProblems, ...registryProblems(config), ...settleNotificationTargets(config.notifications).problems, ...routingProblems(config)];
  if (problems.length > 0) throw new ConfigError(`coordinator config${file ? ` (${file})` : ''} is invalid: ${problems.join('; ')}`);
  return config;
}

/** Routes are applied to HAProxy by its relay: a routing entry without one could never take effect. */
function routingProblems(config: Pick<CoordinatorConfig, 'routing' | 'loadBalancer'>): string[] {
  if (Object.keys(config.routing).length === 0 || config.loadBalancer?.relay) return [];
  return ['routing: needs loadBalancer.relay, through which the coordinator applies route tables'];
}

/** Reads `file` (or nothing), applies the environment overrides and parses it with `schema`, listing every problem. */
export function load<T>(
  schema: z.ZodType<T>,
  file: string | undefined,
  env: Env,
  overrides: Record<string, [string[], (v: string) => unknown]>,
  what: string,
): T {
  const raw = file === undefined ? {} : readConfigFile(file);
  for (const [name, [path, convert]] of Object.entries(overrides)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, convert(value));
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(`${what}${file ? ` (${file})` : ''} is invalid: ${describeIssues(result.error)}`);
  }
  return result.data;
}

/** Loaded on first use: a JSON config file, or none, never needs the package. */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return parse(text);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${errorMessage(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${errorMessage(error)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a mapping at its top level`);
  }
  return parsed as Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}
