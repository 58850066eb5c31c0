// A role's deploy hooks (config `hooks`): the operator's own commands, run by the agent on
// this host at fixed points of its deploy, bounded by their timeout, with the deploy's
// context in their environment and the tail of their output kept for the host's report.
import type { Colour } from '../../shared/contract/strategy.js';
import { execa } from 'execa';
import type { HookCommand, RoleHooks } from '../../shared/contract/role-config.js';
import { GrapevineError, errorMessage } from '../../shared/contract/errors.js';
import { INHERITED_ENV, inheritedEnv } from '../../shared/contract/inherited-env.js';
import type { Logger } from '../../shared/contract/logger.js';
import type { Deploy, HostStep } from '../../shared/contract/schemas.js';
import { TIMED_OUT, within } from '../../shared/contract/waiting.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';

/** Each hook's config field, by the step it shows as in a host's report. */
export const HOOK_FIELDS = { 'before-drain': 'beforeDrain', 'after-up': 'afterUp', 'after-register': 'afterRegister' } as const;
export type HookName = keyof typeof HOOK_FIELDS & HostStep;

/** A hook that ignores SIGTERM gets this long before SIGKILL. */
const KILL_GRACE_MS = 5_000;
/** After SIGKILL, how long to wait for its output to close (a child that left the hook's process group may hold it). */
const EXIT_WAIT_MS = 5_000;
const TAIL_LINES = 20;
/** A host's report carries at most 2000 characters of error: the tail leaves room for what precedes it. */
const TAIL_CHARS = 1_500;
const DIGEST_TIMEOUT_MS = 10_000;
/** The bound on taking a host out again after its after-register hook failed. */
const DRAIN_AFTER_HOOK_MS = 60_000;

/** A hook that exited non-zero, timed out, was killed or could not start: a release fault. */
export class HookFailedError extends GrapevineError {
  constructor(
    readonly hook: HookName,
    message: string,
    readonly output: string,
  ) {
    // One line, so a host's row in `grapevine status` and a deploy's reason stay readable.
    super('hook_failed', `hook ${hook} ${message}${output === '' ? '' : `: ${output.split('\n').join(' | ')}`}`);
  }
}

/** What a hook is told of the deploy it runs in. */
export interface HookContext {
  deploy: Pick<Deploy, 'id' | 'role' | 'env' | 'tag' | 'image' | 'rollbackOf'>;
  host: string;
  /** The load balancer's backend and this host's address in it: where a smoke test reaches the new version. */
  lb: { backend: string; address: string };
  /** The colour the deploy replaces, on a blue/green role. */
  colour?: Colour;
}

/** The runner's view of hooks: which a role has, and running one (throws HookFailedError). */
export interface DeployHooks {
  has(role: string, hook: HookName): boolean;
  run(hook: HookName, context: HookContext, signal: AbortSignal, logger: Logger): Promise<void>;
}

export interface HookStepOptions {
  hooks: DeployHooks | undefined;
  context: HookContext;
  progress: { step(step: HostStep): void };
  /** The runner's step: bounded, retried while a service does not answer (never a hook that failed). */
  step: (name: HostStep, task: (signal: AbortSignal) => Promise<void>) => Promise<void>;
  /** Redis confirms the slot lease is still this host's. */
  confirm: (name: HostStep) => Promise<unknown>;
  /** Takes the host out of the load balancer, within the signal's time. */
  drain: (signal: AbortSignal) => Promise<void>;
  logger: Logger;
}

/**
 * The runner's hook call: each hook the role has runs as a step of its own (a failure is a
 * release fault: fault-kind.ts). Only a holder Redis has just confirmed runs before-drain,
 * which usually tells something outside the host is leaving. A failed after-register hook
 * drains the host first, so the version it refused takes no traffic while the previous one comes back.
 */
export function hookSteps(options: HookStepOptions): (name: HookName) => Promise<void> {
  const { hooks, context, progress, step, confirm, drain, logger } = options;
  return async (name) => {
    if (!hooks?.has(context.deploy.role, name)) return;
    progress.step(name);
    if (name === 'before-drain') await confirm(name);
    try {
      await step(name, (signal) => hooks.run(name, context, signal, logger));
    } catch (error) {
      if (name === 'after-register') {
        await drain(AbortSignal.timeout(DRAIN_AFTER_HOOK_MS)).catch((drainError: unknown) => {
          logger.error({ err: errorMessage(drainError) }, 'could not drain the host after its after-register hook failed');
        });
      }
      throw error;
    }
  };
}

/** Runs the hooks of each role's config as processes on this host. */
export class ProcessHooks implements DeployHooks {
  constructor(
    private readonly roles: Record<string, { hooks?: RoleHooks | undefined }>,
    private readonly runtime: Pick<ContainerRuntime, 'imageDigest'>,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {}

  has(role: string, hook: HookName): boolean {
    return this.roles[role]?.hooks?.[HOOK_FIELDS[hook]] !== undefined;
  }

  async run(hook: HookName, context: HookContext, signal: AbortSignal, logger: Logger): Promise<void> {
    const command = this.roles[context.deploy.role]?.hooks?.[HOOK_FIELDS[hook]];
    if (!command) return;
    const digest = await this.digestOf(context.deploy.image, signal, logger);
    const startedAt = Date.now();
    const outcome = await runHook(hook, command, { ...inheritedEnv(INHERITED_ENV, this.env), ...hookEnv(hook, context, digest) }, signal);
    logger.info({ hook, ms: Date.now() - startedAt, output: outcome.output }, `hook ${hook} passed`);
  }

  /** The digest the hook is told of; the image's own reference when the engine cannot say (a hook must not fail for it). */
  private async digestOf(image: string, signal: AbortSignal, logger: Logger): Promise<string> {
    // A release pinned at publish names its digest already, even before the pull (before-drain).
    if (/@sha256:[a-f0-9]{64}$/.test(image)) return image;
    try {
      const digest = await this.runtime.imageDigest?.(image, { signal: AbortSignal.any([signal, AbortSignal.timeout(DIGEST_TIMEOUT_MS)]), logger });
      return digest ?? image;
    } catch (error) {
      signal.throwIfAborted();
      logger.warn({ err: errorMessage(error), image }, 'could not read the image digest; hooks get the image reference instead');
      return image;
    }
  }
}

/** The environment a hook runs with: the deploy's context, each value as the host sees it. */
export function hookEnv(hook: HookName, { deploy, host, lb, colour }: HookContext, digest: string): Record<string, string> {
  return {
    GRAPEVINE_HOOK: hook,
    GRAPEVINE_ROLE: deploy.role,
    GRAPEVINE_ENV: deploy.env,
    GRAPEVINE_TAG: deploy.tag,
    GRAPEVINE_IMAGE: deploy.image,
    GRAPEVINE_IMAGE_DIGEST: digest,
    GRAPEVINE_DEPLOY_ID: deploy.id,
    GRAPEVINE_HOST: host,
    GRAPEVINE_LB_BACKEND: lb.backend,
    GRAPEVINE_LB_ADDRESS: lb.address,
    ...(deploy.rollbackOf === undefined ? {} : { GRAPEVINE_ROLLBACK_OF: deploy.rollbackOf }),
    ...(colour === undefined ? {} : { GRAPEVINE_COLOUR: colour }),
  };
}

/**
 * Runs one hook to its end: resolves with its output's tail when it exits 0, else throws a
 * HookFailedError saying how it ended. At its timeout, or when `signal` fires, its whole
 * process group gets SIGTERM, then SIGKILL after a grace.
 */
export async function runHook(hook: HookName, command: HookCommand, env: Record<string, string>, signal: AbortSignal): Promise<{ output: string }> {
  const [file, ...args] = command.shell ? ['/bin/sh', '-c', command.command.join(' ')] : command.command;
  const tail = new OutputTail();
  const subprocess = execa(file!, args, {
    env,
    extendEnv: false,
    shell: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    // Its own process group, so a stop reaches what a script started too.
    detached: true,
  });
  subprocess.all?.on('data', (chunk: unknown) => tail.add(String(chunk)));
  const timeout = AbortSignal.timeout(command.timeoutMs);
  const stop = AbortSignal.any([signal, timeout]);
  let killTimer: NodeJS.Timeout | undefined;
  let onStop: () => void = () => undefined;
  // Once stopped, a hook whose output a stray child holds open is waited for no longer than the grace and a bit.
  const stopped = new Promise<typeof TIMED_OUT | Awaited<typeof subprocess>>((resolve) => {
    onStop = () => {
      killGroup(subprocess.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(subprocess.pid, 'SIGKILL'), KILL_GRACE_MS);
      resolve(within(subprocess, KILL_GRACE_MS + EXIT_WAIT_MS));
    };
  });
  if (stop.aborted) onStop();
  else stop.addEventListener('abort', onStop, { once: true });
  let result: Awaited<typeof subprocess> | typeof TIMED_OUT;
  try {
    result = await Promise.race([subprocess, stopped]);
  } finally {
    stop.removeEventListener('abort', onStop);
    clearTimeout(killTimer);
    // What a stopped hook started dies with it, even when the hook itself went at SIGTERM.
    if (stop.aborted) killGroup(subprocess.pid, 'SIGKILL');
  }
  const output = tail.text();
  if (signal.aborted) throw signal.reason;
  if (timeout.aborted) throw new HookFailedError(hook, `timed out after ${formatSeconds(command.timeoutMs)}`, output);
  if (result === TIMED_OUT) throw new HookFailedError(hook, 'did not end', output);
  if (result.exitCode === 0) return { output };
  if (result.signal) throw new HookFailedError(hook, `was killed by ${result.signal}`, output);
  if (result.exitCode === undefined) throw new HookFailedError(hook, `could not start: ${result.originalMessage ?? result.shortMessage}`, output);
  throw new HookFailedError(hook, `failed (exit ${result.exitCode})`, output);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** The last lines of a hook's output, stdout and stderr interleaved, as bounded text. */
export class OutputTail {
  private kept = '';

  add(text: string): void {
    this.kept = (this.kept + text).slice(-TAIL_CHARS * 4);
  }

  text(): string {
    const lines = this.kept.replace(/\s+$/, '').split('\n').slice(-TAIL_LINES).join('\n');
    return lines.length > TAIL_CHARS ? `...${lines.slice(-(TAIL_CHARS - 3))}` : lines;
  }
}
