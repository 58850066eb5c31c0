// A canary or blue/green deploy's strategy on its page: the phase it is in, the canary set or
// the colours, and each step with its share of traffic and, once judged, the judge's figures
// per metric (the same as `grapevine canary report`). A rolling deploy shows none.
import type { MetricVerdict } from '../../shared/contract/canary-analysis.js';
import type { Deploy, StrategyStepState } from '../../shared/contract/schemas.js';
import { otherColour } from '../../shared/contract/strategy.js';
import { html, type Markup } from './html.js';
import { durationText, timeLabel } from './labels.js';

export function strategySection(deploy: Deploy): Markup | undefined {
  const { strategy } = deploy;
  if (!strategy) return undefined;
  const colours = deploy.colour && strategy.kind === 'blue-green' ? html`<dt>Colours</dt><dd>${strategy.fromColour ?? otherColour(deploy.colour)} → ${deploy.colour}</dd>` : undefined;
  return html`<section aria-labelledby="strategy-heading">
<h2 id="strategy-heading">Strategy: ${strategy.kind}</h2>
<dl class="facts">
<dt>Phase</dt><dd data-strategy-phase="${strategy.phase}">${strategy.phase}${strategy.phaseAt !== undefined && html` since ${timeLabel(strategy.phaseAt)}`}</dd>
${strategy.canaryHosts?.length ? html`<dt>Canary hosts</dt><dd class="mono">${strategy.canaryHosts.join(', ')}</dd>` : undefined}
${colours}
${strategy.outcome !== undefined && html`<dt>Outcome</dt><dd data-strategy-outcome>${strategy.outcome}</dd>`}
${strategy.decidedBy !== undefined && html`<dt>Decided by</dt><dd>${strategy.decidedBy}</dd>`}
</dl>
${strategy.steps.length > 0 && html`<table class="steps">
<caption>Steps</caption>
<thead><tr><th scope="col">Step</th><th scope="col">Traffic</th><th scope="col">Window</th><th scope="col">Verdict</th><th scope="col">Judge</th></tr></thead>
<tbody>${strategy.steps.map((step, i) => stepRow(step, i, i === strategy.current && strategy.phase !== 'done'))}</tbody>
</table>`}
</section>`;
}

function stepRow(step: StrategyStepState, index: number, current: boolean): Markup {
  const { analysis } = step;
  const verdict = analysis ? html`<span data-verdict="${analysis.verdict}">${analysis.verdict} (${analysis.score}/100)</span>` : step.startedAt !== undefined ? (current ? 'in its window' : 'done') : 'not started';
  return html`<tr data-step="${index + 1}"><td>${index + 1}</td><td>${step.percent} %</td><td>${durationText(step.windowMs)}</td><td>${verdict}</td><td>${analysis ? html`<ul class="metrics">${analysis.metrics.map(metricItem)}</ul>` : ''}</td></tr>`;
}

function metricItem(metric: MetricVerdict): Markup {
  const value = (v: number | null) => (v === null ? '–' : metric.metric === 'errors' ? `${(v * 100).toFixed(1)} %` : `${v.toFixed(1)} ms`);
  const p = metric.pValue === null ? '–' : metric.pValue < 0.001 ? metric.pValue.toExponential(1) : metric.pValue.toFixed(3);
  return html`<li data-metric="${metric.metric}">${metric.metric}: baseline ${value(metric.baseline)}, canary ${value(metric.canary)}, p = ${p}: <strong>${metric.verdict}</strong></li>`;
}
