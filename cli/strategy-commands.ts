// The strategies at the command line (README, "Strategies"): a canary's report, promoting or
// aborting a paused canary, switching a blue/green group back, and the lines `status` prints
// for a deploy's strategy as it goes.
import type { Command } from 'commander';
import type { MetricVerdict } from '../shared/contract/canary-analysis.js';
import { deployId, envName, roleName } from '../shared/contract/names.js';
import { parseOrThrow, type Deploy, type StrategyState, type StrategyStepState } from '../shared/contract/schemas.js';
import type { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';

export interface StrategyCommandDeps {
  client: () => CoordinatorClient;
  print: (value: unknown, text: string) => void;
  /** Sets the exit code of a report whose canary failed. */
  failed: () => void;
}

export function registerStrategyCommands(program: Command, { client, print, failed }: StrategyCommandDeps): void {
  const canary = program.command('canary').description('canary analysis');
  canary
    .command('report <deployId>')
    .description("each step of a canary deploy: per metric the baseline's and the canary's medians, the test's p-value and verdict, and the score")
    .action(async (id: string) => {
      const deploy = await client().getDeploy(parseOrThrow(deployId, id, 'deploy id'));
      const { strategy } = deploy;
      if (!strategy) {
        print({ id: deploy.id, strategy: null }, `deploy ${deploy.id} has no strategy (a rolling deploy): nothing was judged`);
        return;
      }
      print({ id: deploy.id, role: deploy.role, env: deploy.env, tag: deploy.tag, status: deploy.status, reason: deploy.reason, strategy }, reportLines(deploy, strategy).join('\n'));
      if (strategy.steps.some((step) => step.analysis?.verdict === 'fail')) failed();
    });

  for (const decision of ['promote', 'abort'] as const) {
    program
      .command(`${decision} <deployId>`)
      .description(decision === 'promote' ? 'go on with a canary paused on a marginal score (operator)' : 'stop a canary before its rollout: its canary hosts go back, the rest never move (operator)')
      .action(async (id: string) => {
        const deploy = await client().decideCanary(parseOrThrow(deployId, id, 'deploy id'), decision);
        print(deploy, `${decision === 'promote' ? 'promoted' : 'aborted'} ${deploy.id}: ${describeStrategy(deploy.strategy)}`);
      });
  }

  program
    .command('switch <role>')
    .description("move a blue/green group's traffic back to the colour it left, while that colour still runs")
    .requiredOption('--env <env>', 'environment, e.g. production')
    .action(async (role: string, options: { env: string }) => {
      const switched = await client().switchColour(parseOrThrow(roleName, role, 'role'), parseOrThrow(envName, options.env, '--env'));
      print(switched, `switched ${role}/${options.env} to ${switched.live}: ${switched.servers} servers weighed in ${switched.ms} ms`);
    });
}

/** The lines `status DEPLOY_ID` adds for a deploy with a strategy. */
export function strategyLines(deploy: Deploy): string[] {
  const { strategy } = deploy;
  if (!strategy) return [];
  return [`  strategy     ${describeStrategy(strategy)}`, ...strategy.steps.map((step, i) => `  step ${i + 1}       ${describeStep(step, i === strategy.current && strategy.phase !== 'done')}`), ...(strategy.outcome ? [`  outcome      ${strategy.outcome}`] : [])];
}

function describeStrategy(strategy: StrategyState | undefined): string {
  if (!strategy) return 'rolling';
  const parts = [strategy.kind, `phase ${strategy.phase}`];
  if (strategy.canaryHosts?.length) parts.push(`canary ${strategy.canaryHosts.join(', ')}`);
  if (strategy.fromColour) parts.push(`from ${strategy.fromColour}`);
  if (strategy.decidedBy) parts.push(`decided by ${strategy.decidedBy}`);
  return parts.join(', ');
}

function describeStep(step: StrategyStepState, current: boolean): string {
  const what = `${String(step.percent).padStart(3)} %  ${Math.round(step.windowMs / 1000)} s`;
  if (step.analysis) return `${what}  ${step.analysis.verdict} (score ${step.analysis.score})`;
  if (step.startedAt !== undefined) return `${what}  ${current ? 'in its window' : 'done'}`;
  return `${what}  not started`;
}

function reportLines(deploy: Deploy, strategy: StrategyState): string[] {
  const lines = [`${deploy.id} ${deploy.role}/${deploy.env} ${deploy.tag}: ${deploy.status}${deploy.reason ? ` (${deploy.reason})` : ''}`, `  ${describeStrategy(strategy)}`];
  for (const [i, step] of strategy.steps.entries()) {
    lines.push(`  step ${i + 1}: ${describeStep(step, i === strategy.current && strategy.phase !== 'done')}`);
    if (!step.analysis) continue;
    lines.push(`    ${'metric'.padEnd(8)} ${'baseline'.padStart(10)} ${'canary'.padStart(10)} ${'p-value'.padStart(9)}  verdict`);
    for (const metric of step.analysis.metrics) lines.push(`    ${metricLine(metric)}`);
    lines.push(`    ${step.analysis.summary}`);
  }
  return lines;
}

function metricLine(metric: MetricVerdict): string {
  const value = (v: number | null) => (v === null ? '-' : metric.metric === 'errors' ? v.toFixed(3) : `${v.toFixed(1)} ms`);
  const p = metric.pValue === null ? '-' : metric.pValue < 0.001 ? metric.pValue.toExponential(1) : metric.pValue.toFixed(3);
  return `${metric.metric.padEnd(8)} ${value(metric.baseline).padStart(10)} ${value(metric.canary).padStart(10)} ${p.padStart(9)}  ${metric.verdict} (${metric.baselineSamples} vs ${metric.canarySamples} samples)`;
}
