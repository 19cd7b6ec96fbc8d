import { CODECS, OBJECTIVE_MODES, OBJECTIVES } from '@cleave/proto';

/** Escapes text for HTML, so names and messages never become markup. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** `<option>` elements, one per value. */
function options(values: readonly string[]): string {
  return values.map((v) => `<option>${escapeHtml(v)}</option>`).join('');
}

/** The login form. */
export function loginPage(error?: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cleave console · login</title><link rel="stylesheet" href="/assets/console.css"></head>
<body class="login"><main><h1>Cleave console</h1>
<form method="post" action="/login">
<label>Operator name <input name="name" autocomplete="username" value="operator"></label>
<label>Token <input name="token" type="password" autocomplete="current-password" required></label>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<button type="submit">Log in</button></form></main></body></html>`;
}

/** The single-page console shell; console.js fills it from the JSON API and live events. */
export function consolePage(csrfToken: string, operator: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="cleave-csrf" content="${escapeHtml(csrfToken)}">
<title>Cleave console</title><link rel="stylesheet" href="/assets/console.css"><link rel="stylesheet" href="/assets/operations.css"></head>
<body>
<header><h1>Cleave</h1><nav>
<a href="#fleet">Fleet</a><a href="#cloud">Cloud</a><a href="#alerts">Alerts</a><a href="#rollouts">Rollouts</a><a href="#bundles">Bundles</a><a href="#policies">Policies</a><a href="#audit">Audit</a>
</nav><form method="post" action="/logout" class="who"><span>${escapeHtml(operator)}</span><button>Log out</button></form></header>
<main>
<section id="alerts" aria-live="polite"><h2>Alerts <span id="alert-count" class="alert-count">0</span></h2>
<ul id="alert-list" class="alert-list"></ul>
<details id="alert-cleared-box"><summary>Cleared recently</summary><ul id="alert-cleared" class="alert-list"></ul></details></section>
<section id="fleet"><h2>Fleet <span id="fleet-live" class="live">live</span></h2>
<div class="tools"><input id="fleet-filter" type="search" placeholder="Filter agents (id, model@version, split, stale…)">
<span class="pager"><button type="button" id="fleet-prev" disabled>‹ Prev</button><output id="fleet-range"></output>
<button type="button" id="fleet-next" disabled>Next ›</button></span></div>
<p id="fleet-summary" class="summary"></p>
<div class="scroll"><table id="fleet-table"><thead><tr>
<th data-sort="agentId">Agent</th><th data-sort="model">Model@version</th><th data-sort="split">Split</th><th data-sort="codec">Codec</th>
<th data-sort="bandwidthMbps" title="The agent's estimate from its own transfers and probes, not a link measurement">Mbps (est.)</th><th data-sort="rttMs" title="The agent's estimate">RTT ms (est.)</th><th data-sort="battery">Battery</th><th data-sort="exitRate" title="Over the last heartbeat interval">Exit rate</th>
<th data-sort="p50Ms" title="Over the last heartbeat interval">p50/p95 ms</th><th data-sort="offloads" title="Over the last heartbeat interval">Offloads / interval</th><th data-sort="fallbacks" title="Over the last heartbeat interval">Fallbacks / interval</th><th>Last error</th>
</tr></thead><tbody></tbody></table></div></section>
<section id="cloud"><h2>Cloud replicas</h2><div class="scroll"><table id="cloud-table"><thead><tr>
<th>Replica</th><th>Service version</th><th>Requests</th><th>Errors</th><th>Avg processing ms</th><th>Batches</th></tr></thead><tbody></tbody></table></div></section>
<section id="rollouts"><h2>Rollouts</h2><div id="rollout-list"></div>
<dialog id="promote-dialog" aria-labelledby="promote-title"><form method="dialog">
<h3 id="promote-title"></h3><div id="promote-body"></div><p id="promote-result" role="status"></p>
<div class="dialog-buttons"><button value="cancel" id="promote-cancel">Cancel</button>
<button value="confirm" id="promote-confirm" type="button">Promote</button></div></form></dialog></section>
<section id="bundles"><h2>Models and bundles</h2><div id="bundle-list"></div>
<div id="bundle-detail" hidden>
<h3 id="bundle-title"></h3>
<p id="bundle-task"></p>
<p id="bundle-signer" class="signer"></p>
<div class="scroll"><table id="bundle-finals"><caption>Final outputs</caption><thead><tr>
<th>Output</th><th>dtype</th><th>dims</th><th>Role</th></tr></thead><tbody></tbody></table></div>
<div class="tools"><label>Bandwidth <input id="bandwidth" type="range" min="-1" max="3" step="0.01" value="0.767"></label>
<output id="bandwidth-value"></output>
<label>Mbps <input id="bandwidth-mbps" type="number" min="0.01" max="100000" step="any" value="5.85"></label>
<label>RTT ms <input id="rtt-ms" type="number" min="0" max="10000" step="any"></label>
<label>Objective <select id="objective">${options(OBJECTIVES)}</select></label></div>
<div class="chart"><canvas id="split-chart" aria-label="Split-point chart"></canvas></div>
<p id="split-best"></p>
<div class="scroll"><table id="split-cuts"><caption>Candidates at this bandwidth, best first</caption><thead><tr>
<th>Candidate</th><th>Cut after</th><th>Cut tensors</th><th>Request / reply per sample</th><th>Cost</th><th>Agents on it now</th>
</tr></thead><tbody></tbody></table></div>
<p id="exit-note" hidden></p>
<div class="chart" id="exit-chart-box"><canvas id="exit-chart" aria-label="Exit curve"></canvas></div>
</div></section>
<section id="policies"><h2>Policies</h2>
<form id="policy-form"><label>Scope <select id="policy-scope"><option value="fleet">fleet</option></select></label>
<label>Objective <select name="objective"><option value="">(inherit)</option>${options(OBJECTIVE_MODES)}</select></label>
<label>Deadline (latency SLO) ms <input name="deadlineMs" type="number" min="1" step="1"></label>
<label>Accuracy budget pt <input name="budgetPoints" type="number" min="0" max="20" step="0.1"></label>
<label>Accuracy floor (0..1) <input name="floorAccuracy" type="number" min="0" max="1" step="0.001"></label>
<label>Codec <select name="codec"><option value="">(inherit)</option>${options(['auto', ...CODECS])}</select></label>
<label>Split (pin a candidate) <input name="split" list="policy-splits" placeholder="(plan)" autocomplete="off"></label>
<datalist id="policy-splits"></datalist>
<button type="submit">Save policy</button><button type="button" id="policy-clear">Clear this policy</button>
<output id="policy-result" role="status"></output></form>
<p id="policy-effective"></p>
<pre id="policy-current"></pre></section>
<section id="audit"><h2>Audit log</h2><ol id="audit-list"></ol></section>
</main>
<script src="/assets/chart.umd.min.js"></script><script src="/assets/chartjs-plugin-annotation.min.js"></script>
<script src="/assets/chartjs-plugin-datalabels.min.js"></script><script src="/assets/page-lib.js"></script><script src="/assets/console.js"></script>
<script src="/assets/bundle-charts.js"></script><script src="/assets/policies.js"></script><script src="/assets/rollouts.js"></script><script src="/assets/alerts.js"></script></body></html>`;
}
