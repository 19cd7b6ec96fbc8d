// The per-agent page's server-rendered shell; agent.js fills it from /api/agents/:agentId and its history. The agent
// id comes from the network (it is whatever key an agent wrote its heartbeat under), so it is escaped like all text.
import { escapeHtml } from '../console-page.js';

/** The page of one agent: its decision and breaker, charts of its history, and its switches. */
export function agentPage(options: { agentId: string; csrfToken: string; operator: string }): string {
  const id = escapeHtml(options.agentId);
  const chart = (name: string, label: string) =>
    `<section class="agent-chart"><h2>${label}</h2><div class="chart"><canvas id="chart-${name}" aria-label="${label}"></canvas></div></section>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="cleave-csrf" content="${escapeHtml(options.csrfToken)}"><meta name="cleave-agent" content="${id}">
<title>Cleave · agent ${id}</title><link rel="stylesheet" href="/assets/console.css"><link rel="stylesheet" href="/assets/agent.css"></head>
<body>
<header><h1><a href="/">Cleave</a></h1><nav><a href="/#fleet">Fleet</a></nav>
<form method="post" action="/logout" class="who"><span>${escapeHtml(options.operator)}</span><button>Log out</button></form></header>
<main>
<section id="agent-summary"><h2>Agent <span id="agent-id">${id}</span> <span id="agent-live" class="live"></span></h2>
<div class="tools"><label>Window <select id="history-minutes"><option value="15">15 min</option><option value="60">1 h</option>
<option value="360">6 h</option><option value="1440">24 h</option></select></label>
<label>Model <select id="history-model"></select></label></div>
<dl id="agent-decision" class="decision"></dl>
<p id="agent-status" role="status"></p></section>
${chart('latency', 'Latency p50 / p95 (ms, per point)')}
${chart('exit', 'Exit rate (per point)')}
${chart('ran-on', 'Where requests ran (requests per point)')}
${chart('link', 'Bandwidth and RTT (the agent’s estimates)')}
${chart('battery', 'Battery')}
<section id="agent-switches"><h2>Switches</h2><div class="scroll"><table id="switch-table"><thead><tr>
<th>At</th><th>From</th><th>To</th><th>Reason</th></tr></thead><tbody></tbody></table></div>
<h3>Changes in this window</h3><div class="scroll"><table id="marker-table"><thead><tr>
<th>At</th><th>What</th><th>From</th><th>To</th><th>Reason</th></tr></thead><tbody></tbody></table></div></section>
</main>
<script src="/assets/chart.umd.min.js"></script><script src="/assets/chartjs-plugin-annotation.min.js"></script>
<script src="/assets/page-lib.js"></script><script src="/assets/agent.js"></script></body></html>`;
}
