// The undoing of a `dev chaos ... --for SECONDS` fault. The CLI exits at once, so a small
// detached helper (the grapevine CLI itself, `dev chaos heal`) waits out the time and heals;
// it is recorded in the cluster state, so `dev down` ends it if the cluster goes first.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ValidationError } from '../shared/contract/errors.js';
import { pause } from '../shared/contract/waiting.js';
import { readClusterState, updateClusterState, type DevClusterState, type ScheduledHeal } from './cluster-state.js';
import { isRunning, startDetached, stopProcess } from './local-process.js';
import { healHost } from './partition.js';
import { CLI } from './sample-app.js';
import { restartCoordinator, untilCoordinatorAnswers } from './services.js';

export const MIN_FAULT_SECONDS = 1;
export const MAX_FAULT_SECONDS = 600;
const HEAL_ACTIONS = ['heal-partition', 'start-coordinator'] as const;

/** `--for` as given on the command line: seconds from 1 to 600. */
export function faultSeconds(value: string | number): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < MIN_FAULT_SECONDS || seconds > MAX_FAULT_SECONDS) {
    throw new ValidationError(`--for must be ${MIN_FAULT_SECONDS} to ${MAX_FAULT_SECONDS} seconds, not "${value}"`);
  }
  return seconds;
}

export function healAction(value: string): ScheduledHeal['action'] {
  const action = HEAL_ACTIONS.find((known) => known === value);
  if (!action) throw new ValidationError(`heal action must be one of ${HEAL_ACTIONS.join(', ')}, not "${value}"`);
  return action;
}

/** Starts the helper and records it; returns the heal as recorded. */
export function scheduleHeal(dir: string, action: ScheduledHeal['action'], seconds: number, host?: string): ScheduledHeal {
  const id = `heal-${randomBytes(6).toString('hex')}`;
  const dueAt = Date.now() + Math.round(seconds * 1_000);
  const args = [CLI, 'dev', 'chaos', 'heal', '--dir', dir, '--id', id, '--action', action, '--at', String(dueAt)];
  // The id on the helper's command line is what marks it as ours before `dev down` signals it.
  const helper = startDetached(process.execPath, host === undefined ? args : [...args, '--host', host], join(dir, 'chaos.log'), id);
  const heal: ScheduledHeal = { id, action, dueAt, helper, ...(host === undefined ? {} : { host }) };
  updateClusterState(dir, (state) => {
    state.heals = [...(state.heals ?? []), heal];
  });
  return heal;
}

/** A heal of the same kind (and host) still to come, which a second fault of that kind would race. */
export function pendingHeal(state: DevClusterState, action: ScheduledHeal['action'], host?: string): ScheduledHeal | undefined {
  return (state.heals ?? []).find((heal) => heal.action === action && heal.host === host && isRunning(heal.helper));
}

/** What the helper runs: waits until the heal is due, undoes the fault, and drops itself from the state. */
export async function runHeal(dir: string, heal: Omit<ScheduledHeal, 'helper'>, log: (line: string) => void): Promise<void> {
  const waitMs = Math.min(Math.max(heal.dueAt - Date.now(), 0), MAX_FAULT_SECONDS * 1_000);
  await pause(waitMs);
  const state = readClusterState(dir);
  if (!state) {
    log(`${heal.id}: the cluster in ${dir} is gone; nothing to heal`);
    return;
  }
  try {
    if (heal.action === 'heal-partition') {
      const host = state.hosts.find((h) => h.name === heal.host);
      if (!host) throw new ValidationError(`no host "${heal.host}" in the cluster`);
      await healHost(host);
      log(`${heal.id}: healed the partition of ${host.name}`);
    } else if (state.processes.coordinator && isRunning(state.processes.coordinator)) {
      log(`${heal.id}: the coordinator already runs (pid ${state.processes.coordinator.pid}); not starting another`);
    } else {
      const started = restartCoordinator(state);
      updateClusterState(dir, (latest) => {
        latest.processes.coordinator = started;
      });
      await untilCoordinatorAnswers(state);
      log(`${heal.id}: started the coordinator again (pid ${started.pid}); it answers`);
    }
  } finally {
    if (readClusterState(dir)) {
      updateClusterState(dir, (latest) => {
        latest.heals = (latest.heals ?? []).filter((h) => h.id !== heal.id);
      });
    }
  }
}

/** Ends every heal helper still waiting, by its recorded id: `dev down` does this before anything else. */
export async function cancelHeals(state: DevClusterState): Promise<void> {
  await Promise.all((state.heals ?? []).map((heal) => stopProcess(heal.helper, 1_000)));
}
