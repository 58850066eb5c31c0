// How long a host spent in each step of its part in a deploy, from its own report: a step
// lasts from its start to the start of the next one, the last until the host ended.
import type { HostReport, HostStep } from '../../shared/contract/schemas.js';

export interface StepDuration {
  step: HostStep;
  seconds: number;
}

/** Every step with a known end; none for a report not yet ended past its last step. */
export function stepDurations(report: Pick<HostReport, 'steps' | 'endedAt'>): StepDuration[] {
  const steps = [...report.steps].sort((a, b) => a.at - b.at);
  const durations: StepDuration[] = [];
  for (const [index, { step, at }] of steps.entries()) {
    const end = steps[index + 1]?.at ?? report.endedAt;
    if (end === undefined) continue;
    durations.push({ step, seconds: Math.max(0, end - at) / 1000 });
  }
  return durations;
}
