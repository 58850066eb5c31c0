// The dashboard's one stylesheet, shipped inside the bundle as a string. Colours mark states
// and steps, always next to a symbol and a word (labels.ts) or a legend; focus is always
// visible; the layout holds from 1280 px down to a narrow window (tables scroll sideways).
export const DASHBOARD_STYLE = `
:root {
  --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --paper: #ffffff; --panel: #f6f8fa;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --run: #0969da; --idle: #6e7781; --focus: #0550ae;
  --seg-wait: #c9d1d9; --seg-job: #8250df; --seg-drain: #bf8700; --seg-pull: #0969da;
  --seg-up: #1f883d; --seg-health: #2da44e; --seg-register: #57606a;
  color-scheme: light;
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: var(--paper); }
a { color: var(--focus); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.skip-link { position: absolute; left: 8px; top: -48px; padding: 8px 12px; background: var(--paper); border: 2px solid var(--focus); z-index: 10; }
.skip-link:focus { top: 8px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
header.top { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; justify-content: space-between; padding: 10px 24px; background: var(--panel); border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; text-decoration: none; color: var(--ink); font-size: 17px; }
.sign-out { display: flex; gap: 10px; align-items: center; margin: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
main:focus { outline: none; }
h1 { font-size: 24px; margin: 8px 0 12px; }
h2 { font-size: 19px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 8px; }
button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--line); background: var(--paper); color: var(--ink); cursor: pointer; }
button.danger { border-color: var(--bad); color: var(--bad); font-weight: 600; }
button.primary { border-color: var(--run); background: var(--run); color: #fff; font-weight: 600; }
label { display: block; font-weight: 600; margin: 8px 0 4px; }
input[type=text], input[type=password] { font: inherit; width: min(100%, 520px); padding: 6px 8px; border: 1px solid var(--muted); border-radius: 6px; }
.hint { color: var(--muted); margin: 4px 0; }
.notice { padding: 10px 14px; border-radius: 6px; border: 1px solid var(--line); background: var(--panel); margin: 12px 0; }
.notice.error { border-color: var(--bad); }
.notice.ok { border-color: var(--ok); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 5px 10px 5px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.error-text { color: var(--bad); white-space: pre-wrap; overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.state { white-space: nowrap; font-weight: 600; }
.state-succeeded, .status-succeeded { color: var(--ok); }
.state-failed, .state-errored, .state-lost, .status-failed, .status-partial { color: var(--bad); }
.state-cancelled, .status-cancelled, .state-pending { color: var(--idle); }
.state-deploying, .state-waiting, .status-in_progress { color: var(--run); }
.health-alive { color: var(--ok); }
.health-failed, .health-out { color: var(--bad); }
.health-left, .health-leaving, .health-unknown { color: var(--warn); }
.broken { color: var(--bad); font-weight: 600; }
.groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 16px; }
.group { border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 8px; }
.actions { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
.action { border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 12px; }
.live-status { color: var(--muted); font-size: 13px; margin: 0 0 8px; }
.live-status[data-live=stopped], .live-status[data-live=error] { color: var(--bad); }
.timeline { margin: 8px 0 4px; }
.lane { display: grid; grid-template-columns: 150px 1fr 150px; gap: 10px; align-items: center; padding: 3px 0; border-bottom: 1px dotted var(--line); }
.lane-name { font-weight: 600; overflow-wrap: anywhere; }
.lane-name small { display: block; font-weight: 400; color: var(--muted); }
.lane svg { width: 100%; height: 22px; display: block; background: var(--panel); border-radius: 3px; }
.axis { display: grid; grid-template-columns: 150px 1fr 150px; gap: 10px; color: var(--muted); font-size: 12px; }
.axis span:nth-child(2) { display: flex; justify-content: space-between; }
.seg-wait { fill: var(--seg-wait); } .seg-job { fill: var(--seg-job); } .seg-drain { fill: var(--seg-drain); }
.seg-pull { fill: var(--seg-pull); } .seg-up { fill: var(--seg-up); } .seg-health { fill: var(--seg-health); }
.seg-register { fill: var(--seg-register); }
.wave-band { fill: none; stroke: var(--ink); stroke-width: 1; stroke-dasharray: 3 2; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; padding: 0; margin: 6px 0; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; }
.swatch.seg-wait { background: var(--seg-wait); } .swatch.seg-job { background: var(--seg-job); } .swatch.seg-drain { background: var(--seg-drain); }
.swatch.seg-pull { background: var(--seg-pull); } .swatch.seg-up { background: var(--seg-up); } .swatch.seg-health { background: var(--seg-health); }
.swatch.seg-register { background: var(--seg-register); }
.login { max-width: 620px; }
@media (max-width: 720px) {
  .lane, .axis { grid-template-columns: 90px 1fr; }
  .lane .lane-state, .axis span:nth-child(3) { grid-column: 1 / -1; }
}
`;
