// One role as a host runs it (the agent config's `roles`): its compose service, health gate,
// once-per-deploy job, load balancer backend and hooks. Kept apart from config.ts so the CLI,
// which checks a dev cluster's hooks file, does not build every process's config schema.
import * as z from 'zod';
import { COLOURS, type Colour } from './strategy.js';

/** Most services answer within two minutes of starting (a JVM takes about thirty seconds); a slower one raises it. */
export const DEFAULT_HEALTHY_DEADLINE_MS = 120_000;
/** Ten seconds of staying healthy catches an app that crashes or fails its check soon after its first good answer. */
export const DEFAULT_MIN_HEALTHY_TIME_MS = 10_000;

const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port');
/** Shared with the agent config's own paths (config.ts). */
export const absolutePath = z.string().regex(/^\/[A-Za-z0-9._/@+-]*$/, 'must be an absolute path of plain characters');

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
export function roleHookProblems(roles: Record<string, { hooks?: RoleHooks | undefined }>, stepDeadlineMs: number): string[] {
  return Object.entries(roles).flatMap(([role, { hooks }]) =>
    Object.entries(hooks ?? {}).flatMap(([name, hook]) =>
      hook !== undefined && hook.timeoutMs + HOOK_STEP_MARGIN_MS > stepDeadlineMs
        ? [`roles.${role}.hooks.${name}.timeoutMs (${hook.timeoutMs} ms) must be at least ${HOOK_STEP_MARGIN_MS / 1000} s shorter than stepDeadlineMs (${stepDeadlineMs} ms), which bounds the hook's step`]
        : [],
    ),
  );
}

const healthUrl = z.url({ protocol: /^http$/, error: 'must be an http:// URL' });

/** One colour of a blue/green role on this host: its own compose project, port and load-balancer server. */
export const ColourConfig = z.strictObject({
  /** Where the load balancer reaches this colour's container; its port is the app's GRAPEVINE_PORT. */
  address: hostPort,
  /** This colour's own health endpoint, as `healthUrl` for a role without colours. */
  healthUrl: healthUrl.optional(),
});
export type ColourConfig = z.infer<typeof ColourConfig>;

const bothColours = 'must name both colours, blue and green (a blue/green role runs both)';

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
  healthUrl: healthUrl.optional(),
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
    /** Where the load balancer reaches this host's container; a role with colours gives one per colour instead. */
    address: hostPort.optional(),
  }),
  /**
   * Blue/green (README, "Blue/green"): the role runs twice on the host, as compose projects
   * `<project>-blue` and `<project>-green` of the same file, each with its own address and
   * load-balancer server (`<node>.blue`, `<node>.green`).
   */
  colours: z
    .strictObject(
      { blue: ColourConfig.optional(), green: ColourConfig.optional() },
      { error: (issue) => (issue.code === 'invalid_type' ? 'must be an object naming blue and green' : undefined) },
    )
    .optional(),
  hooks: RoleHooks.optional(),
}).superRefine((role, context) => {
  if (role.minHealthyTimeMs >= role.healthyDeadlineMs) {
    context.addIssue({ code: 'custom', path: ['minHealthyTimeMs'], message: 'must be shorter than healthyDeadlineMs' });
  }
  for (const problem of colourProblems(role)) context.addIssue({ code: 'custom', ...problem });
});
export type RoleConfig = z.infer<typeof RoleConfig>;

function colourProblems(role: Pick<RoleConfig, 'lb' | 'colours' | 'healthUrl'>): { path: string[]; message: string }[] {
  const { colours } = role;
  if (colours === undefined) {
    return role.lb.address === undefined ? [{ path: ['lb', 'address'], message: 'must be set (or colours, for a blue/green role)' }] : [];
  }
  const problems = COLOURS.filter((colour) => colours[colour] === undefined).map((colour) => ({ path: ['colours', colour], message: bothColours }));
  if (role.lb.address !== undefined) problems.push({ path: ['lb', 'address'], message: 'must not be set beside colours: each colour has its own address (colours.blue.address, colours.green.address)' });
  if (role.healthUrl !== undefined) problems.push({ path: ['healthUrl'], message: 'must not be set beside colours: each colour has its own (colours.blue.healthUrl, colours.green.healthUrl)' });
  if (colours.blue && colours.green) {
    if (colours.blue.address === colours.green.address) problems.push({ path: ['colours', 'green', 'address'], message: `must differ from colours.blue.address (${colours.blue.address}): each colour listens on its own address` });
    if (portOf(colours.blue.address) === portOf(colours.green.address)) problems.push({ path: ['colours', 'green', 'address'], message: `must use another port than colours.blue.address: both colours run on this host` });
  }
  return problems;
}

function portOf(address: string): string {
  return address.slice(address.lastIndexOf(':') + 1);
}

/** A role's colours once validated: both or none. */
export type RoleColours = Record<Colour, ColourConfig>;

/** The role's colours, or undefined for a role without them (validation left no other case). */
export function roleColours(role: Pick<RoleConfig, 'colours'>): RoleColours | undefined {
  const { colours } = role;
  return colours?.blue && colours.green ? { blue: colours.blue, green: colours.green } : undefined;
}
