// Configuration for each process: a YAML or JSON file plus GRAPEVINE_* environment
// overrides, parsed once at start. Every problem is listed in one ConfigError.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { ConfigError, errorMessage } from './errors.js';
import { envName, nodeName, roleName } from './names.js';
import { roleHealthProblems } from './role-health.js';
import { roleJobProblems } from './role-job.js';
import { describeIssues } from './schemas.js';
import { DEFAULT_SLOTS } from './slot-count.js';
import { SerfConfig, devModeSetting, settleSerfKey } from './serf-config.js';
import { AllowedRegistries, registryProblems } from './allowed-registries.js';
import { CaFile, ServerTls } from './tls-config.js';
import { AgentLoadBalancerConfig } from './load-balancer-config.js';

/** Most services answer within two minutes of starting (a JVM takes about thirty seconds); a slower one raises it. */
export const DEFAULT_HEALTHY_DEADLINE_MS = 120_000;
/** Ten seconds of staying healthy catches an app that crashes or fails its check soon after its first good answer. */
export const DEFAULT_MIN_HEALTHY_TIME_MS = 10_000;

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port');
const absolutePath = z.string().regex(/^\/[A-Za-z0-9._/@+-]*$/, 'must be an absolute path of plain characters');
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

/** A name on PATH or an absolute path: never relative to wherever the agent happens to run. */
const hookProgram = /^(\/[^\0]+|[A-Za-z0-9][A-Za-z0-9._+-]*)$/;

/** One hook: an argument list run without a shell, unless `shell` is true (then one string, run by /bin/sh -c). */
export const HookCommand = z
  .strictObject({
    command: z.array(z.string().min(1, 'must not be empty')).min(1, 'must name a program'),
    /** Past it the hook is stopped (SIGTERM, then SIGKILL) and the host fails as if it had failed. */
    timeoutMs: z.number().int().positive('must be a positive number of milliseconds').max(30 * 60_000).default(60_000),
    shell: z.boolean().default(false),
  })
  .superRefine((hook, context) => {
    if (hook.shell && hook.command.length !== 1) {
      context.addIssue({ code: 'custom', path: ['command'], message: 'must be one string (the script /bin/sh -c runs) when shell is true' });
    } else if (!hook.shell && !hookProgram.test(hook.command[0] ?? '')) {
      context.addIssue({ code: 'custom', path: ['command', 0], message: 'must be an absolute path or a program name on PATH' });
    }
  });
export type HookCommand = z.infer<typeof HookCommand>;

/** The operator's own steps around each host's deploy (README, "Hooks"); an unknown name is refused. */
export const RoleHooks = z.strictObject({
  /** With the slot held, before the host leaves the load balancer. */
  beforeDrain: HookCommand.optional(),
  /** Once the new container is healthy, before it goes back into the load balancer. */
  afterUp: HookCommand.optional(),
  /** Once the host is registered again: a smoke test through the load balancer. */
  afterRegister: HookCommand.optional(),
});
export type RoleHooks = z.infer<typeof RoleHooks>;

/** What a hook's step needs besides the hook's timeout: reading the image digest, then stopping a hook that overran. */
const HOOK_STEP_MARGIN_MS = 20_000;

/**
 * A hook must time out well within its step's deadline: a hook cut off by the step deadline
 * would read as the host's fault (errored) instead of the release's (failed).
 */
function roleHookProblems(roles: Record<string, { hooks?: RoleHooks | undefined }>, stepDeadlineMs: number): string[] {
  return Object.entries(roles).flatMap(([role, { hooks }]) =>
    Object.entries(hooks ?? {}).flatMap(([name, hook]) =>
      hook !== undefined && hook.timeoutMs + HOOK_STEP_MARGIN_MS > stepDeadlineMs
        ? [`roles.${role}.hooks.${name}.timeoutMs (${hook.timeoutMs} ms) must be at least ${HOOK_STEP_MARGIN_MS / 1000} s shorter than stepDeadlineMs (${stepDeadlineMs} ms), which bounds the hook's step`]
        : [],
    ),
  );
}

export const RoleConfig = z.object({
  /** Compose file that runs this role on the host; its service takes the image from GRAPEVINE_IMAGE. */
  compose: absolutePath,
  service: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be a compose service name').default('app'),
  project: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a compose project name').optional(),
  /**
   * The health gate (README, "Health and hooks"): how long a new container has to become
   * healthy (Docker's check or healthUrl, either counts; unhealthy verdicts before it do not
   * fail the host), then how long it must stay healthy before the host registers (the soak).
   */
  healthyDeadlineMs: z.number().int('must be a whole number of milliseconds').positive('must be above 0').max(60 * 60_000).default(DEFAULT_HEALTHY_DEADLINE_MS),
  minHealthyTimeMs: z.number().int('must be a whole number of milliseconds').nonnegative('must not be negative').default(DEFAULT_MIN_HEALTHY_TIME_MS),
  /** The single bound of earlier versions: refused with a pointer to what replaced it, never silently ignored. */
  healthTimeoutMs: z
    .unknown()
    .refine((value) => value === undefined, 'is gone: the health gate is now healthyDeadlineMs (how long to become healthy, default 120000) and minHealthyTimeMs (how long to stay healthy, default 10000)')
    .optional(),
  /**
   * The app's own health endpoint as this host reaches it, e.g. http://127.0.0.1:8080/healthz.
   * Asked every 100 ms once the container runs: a 2xx answer counts as healthy at once.
   * Without it the agent waits for the container's Docker health check.
   */
  healthUrl: z.url({ protocol: /^http$/, error: 'must be an http:// URL' }).optional(),
  /**
   * The once-per-deploy job (README, "The once-per-deploy job"): one host of the group runs
   * `docker compose run --rm SERVICE` with the new image before any host replaces its container.
   */
  job: z
    .strictObject({
      service: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be a compose service name'),
      timeoutMs: z.number().int().positive('must be a positive number of milliseconds').max(2 * 60 * 60_000).default(10 * 60_000),
    })
    .optional(),
  lb: z.object({
    backend: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be an HAProxy backend name'),
    /** Where the load balancer reaches this host's container. */
    address: hostPort,
  }),
  hooks: RoleHooks.optional(),
}).refine((role) => role.minHealthyTimeMs < role.healthyDeadlineMs, {
  path: ['minHealthyTimeMs'],
  message: 'must be shorter than healthyDeadlineMs',
});
export type RoleConfig = z.infer<typeof RoleConfig>;

export const AgentConfig = z.object({
  node: nodeName,
  env: envName,
  roles: z.record(roleName, RoleConfig).refine((roles) => Object.keys(roles).length > 0, 'must name at least one role'),
  serf: SerfConfig,
  devMode: devModeSetting,
  redis: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
  coordinator: z.object({ url: z.url(), token: z.string().min(1) }),
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
  /** Named pipe through which the Serf event handler hands deploy events to this agent. */
  eventPipe: absolutePath,
  dockerSocket: absolutePath.default('/var/run/docker.sock'),
  /**
   * Folder (created 0700) for what the agent keeps across restarts: the highest deploy it
   * applied per role and environment. Unset: `agent` beside serf.dataDir, so
   * /var/lib/grapevine/agent on a host set up by provisioning/ and one per host in the dev cluster.
   */
  stateDir: absolutePath.optional(),
  logLevel,
});
export type AgentConfig = z.infer<typeof AgentConfig>;

export const CoordinatorConfig = z.object({
  listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(7700) }),
  redis: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL'),
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
  const problems = [...serfProblems, ...registryProblems(config)];
  if (problems.length > 0) throw new ConfigError(`coordinator config${file ? ` (${file})` : ''} is invalid: ${problems.join('; ')}`);
  return config;
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

/** Loaded on first use: the CLI's deploy and status commands import this module and never read YAML. */
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
