// The once-per-deploy job (README, "The once-per-deploy job"): before a host takes its slot,
// it runs the role's job (a migration) if it gets the job's fenced lease first, or waits for
// the host that has it, so the job ends before any host replaces its container.
import type { Logger } from '../../shared/contract/logger.js';
import { pause } from '../../shared/contract/waiting.js';
import type { Deploy, JobRecord } from '../../shared/contract/schemas.js';
import { UnreachableError, errorMessage } from '../../shared/contract/errors.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import type { JobContainer, JobLease, JobLocks, JobOutcome } from '../../shared/ports/deploy-job.js';
import { isInfrastructureFault } from './fault-kind.js';

/** A waiting host asks Redis this often whether the job ended or its runner's lease lapsed: one script call each. */
/** What the job reads of a deploy: any view without its hosts (an agent reads its own host view). */
type JobDeploy = Omit<Deploy, 'hosts' | 'targets' | 'hostsNext'>;

export const DEFAULT_JOB_POLL_MS = 1_000;
/** A deploy recorded without a deadline gets the coordinator's default one. */
const DEFAULT_DEADLINE_MS = 30 * 60_000;

export interface JobSettings {
  service: string;
  timeoutMs: number;
}

export interface DeployJobDeps {
  node: string;
  /** The job of each role that has one. */
  jobs: Record<string, JobSettings | undefined>;
  locks: JobLocks;
  container: JobContainer;
  runtime: Pick<ContainerRuntime, 'pull'>;
  fleet: Pick<FleetState, 'markBroken'>;
  pollMs?: number;
  now?: () => number;
}

/** What the host reports while it takes part in the job. */
export interface JobProgress {
  step(step: 'job'): void;
  /** The job as this host ran it; undefined clears it (its lease was lost, another host runs it). */
  job(record: JobRecord | undefined): void;
}

/** Whether the host goes on to take its slot, or stands down with a final state and why. */
export type JobGate = { kind: 'proceed' } | { kind: 'stand-down'; state: 'failed' | 'cancelled' | 'errored'; reason: string };

const PROCEED: JobGate = { kind: 'proceed' };

export class DeployJob {
  private readonly now: () => number;
  private readonly pollMs: number;

  constructor(private readonly deps: DeployJobDeps) {
    this.now = deps.now ?? Date.now;
    this.pollMs = deps.pollMs ?? DEFAULT_JOB_POLL_MS;
  }

  /** Runs or waits for the deploy's job; resolves once the host may take its slot or must stand down. */
  async beforeSlot(deploy: JobDeploy, host: JobProgress, signal: AbortSignal, logger: Logger): Promise<JobGate> {
    const settings = this.deps.jobs[deploy.role];
    if (!settings) return PROCEED;
    if (deploy.runJob === false) {
      logger.info({ service: settings.service, rollbackOf: deploy.rollbackOf, catchUpOf: deploy.catchUpOf }, `job ${settings.service} skipped: this deploy does not run it (a rollback runs it only with --run-job)`);
      return PROCEED;
    }
    host.step('job');
    const group: DeployGroup = { role: deploy.role, env: deploy.env };
    const deadlineAt = deploy.deadlineAt ?? deploy.createdAt + DEFAULT_DEADLINE_MS;
    // Bounded in time by the deploy's deadline (past it the coordinator stops the deploy) and in count by the poll.
    const rounds = Math.ceil(Math.max(0, deadlineAt - this.now()) / this.pollMs) + 2;
    let waitingFor: string | undefined;
    for (let round = 0; round < rounds; round++) {
      signal.throwIfAborted();
      let claim;
      try {
        claim = await this.deps.locks.claim({ group, deployId: deploy.id, tag: deploy.tag, holder: this.deps.node, logger });
      } catch (error) {
        if (!isInfrastructureFault(error)) throw error;
        logger.warn({ err: errorMessage(error) }, 'could not ask for the job; asking again');
        await pause(this.pollMs, signal);
        continue;
      }
      switch (claim.kind) {
        case 'done':
          return this.afterOutcome(claim.outcome, logger);
        case 'broken':
          return { kind: 'stand-down', state: 'cancelled', reason: `release ${deploy.tag} is broken; the job ${settings.service} was not run` };
        case 'stopped':
          return { kind: 'stand-down', state: 'cancelled', reason: `deploy ${deploy.id} was stopped (past its deadline) before its job ${settings.service} ended` };
        case 'running':
          if (waitingFor !== claim.holder) logger.info({ service: settings.service, runner: claim.holder }, `waiting for job ${settings.service}, run by ${claim.holder}`);
          waitingFor = claim.holder;
          await pause(this.pollMs, signal);
          continue;
        case 'claimed': {
          const gate = await this.run(deploy, group, settings, claim.lease, host, signal, logger);
          if (gate) return gate;
          // The lease was lost while the job ran: whoever takes it next runs the job again.
          await pause(this.pollMs, signal);
        }
      }
    }
    return { kind: 'stand-down', state: 'errored', reason: `job ${settings.service} did not end before the deploy's deadline` };
  }

  private afterOutcome(outcome: JobOutcome, logger: Logger): JobGate {
    if (outcome.state === 'succeeded') {
      logger.info({ service: outcome.service, runner: outcome.host, attempt: outcome.attempt }, `job ${outcome.service} succeeded on ${outcome.host}`);
      return PROCEED;
    }
    const reason = `job ${outcome.service} failed on ${outcome.host}: ${outcome.error ?? 'no error given'}`;
    logger.info({ reason }, 'the deploy\'s job failed; standing down before this host changed');
    return { kind: 'stand-down', state: 'cancelled', reason };
  }

  /** Runs the job under `lease`; undefined when the lease was lost and another host takes the job over. */
  private async run(deploy: JobDeploy, group: DeployGroup, settings: JobSettings, lease: JobLease, host: JobProgress, agentSignal: AbortSignal, logger: Logger): Promise<JobGate | undefined> {
    const { service } = settings;
    const startedAt = this.now();
    const base = { service, host: this.deps.node, attempt: lease.attempt, startedAt };
    const log = logger.child({ job: service, attempt: lease.attempt });
    // A host taking the job over from one whose lease lapsed runs it again: the job must be idempotent.
    log.info(lease.attempt > 1 ? `running job ${service} again: the host that took it before lost its lease` : `running job ${service}`);
    host.job({ ...base, state: 'running' });
    const signal = AbortSignal.any([agentSignal, lease.signal]);
    let outcome: JobOutcome;
    try {
      await this.deps.runtime.pull(deploy.image, { signal, logger: log });
      const env = { GRAPEVINE_DEPLOY_ID: deploy.id, GRAPEVINE_TAG: deploy.tag, GRAPEVINE_ENV: deploy.env, ...(deploy.colour ? { GRAPEVINE_COLOUR: deploy.colour } : {}) };
      const ran = await this.deps.container.runJob(deploy.role, deploy.image, env, { signal, logger: log, timeoutMs: settings.timeoutMs });
      outcome =
        ran.exitCode === 0
          ? { ...base, state: 'succeeded', endedAt: this.now(), exitCode: 0, output: ran.output }
          : { ...base, state: 'failed', endedAt: this.now(), exitCode: ran.exitCode, output: ran.output, error: `exited with code ${ran.exitCode}: ${lastLines(ran.output)}` };
    } catch (error) {
      if (agentSignal.aborted) {
        await lease.release();
        host.job(undefined);
        return { kind: 'stand-down', state: 'cancelled', reason: `interrupted while running job ${service}: ${errorMessage(agentSignal.reason)}` };
      }
      if (lease.signal.aborted) {
        log.warn({ err: errorMessage(lease.signal.reason) }, `lost the lease of job ${service}; another host takes it over`);
        host.job(undefined);
        return undefined;
      }
      if (isInfrastructureFault(error) || error instanceof UnreachableError) {
        // Docker or the registry did not answer: no verdict on the job; another host may take it.
        await lease.release();
        host.job(undefined);
        const reason = `job ${service}: ${errorMessage(error)}`;
        log.error({ err: reason }, 'could not run the job: not the release\'s fault');
        return { kind: 'stand-down', state: 'errored', reason };
      }
      outcome = { ...base, state: 'failed', endedAt: this.now(), error: errorMessage(error).slice(0, 1_500) };
    }
    const recorded = await lease.record(outcome).catch((error: unknown) => {
      log.warn({ err: errorMessage(error) }, 'could not record the job outcome; it lapses and another host runs the job');
      return false;
    });
    if (!recorded) {
      host.job(undefined);
      return undefined;
    }
    host.job(outcome);
    if (outcome.state === 'succeeded') {
      log.info({ ms: (outcome.endedAt ?? startedAt) - startedAt }, `job ${service} succeeded`);
      return PROCEED;
    }
    const reason = `job ${service} failed: ${outcome.error ?? 'no error given'}`;
    log.error({ err: reason }, 'the deploy\'s job failed; marking the release broken');
    await this.deps.fleet.markBroken(group, deploy.tag, reason, { logger: log }).catch((error: unknown) => {
      log.error({ err: errorMessage(error) }, 'could not mark the release broken');
    });
    return { kind: 'stand-down', state: 'failed', reason };
  }
}

/** The last three non-empty lines of a job's output, joined: where a failed job says why. */
function lastLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-3)
    .join(' | ') || 'no output';
}
