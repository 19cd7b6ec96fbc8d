// Cleave console page script: plain browser JavaScript, no build step. Reads the JSON API, keeps
// the fleet live over server-sent events, and draws charts with Chart.js.
(() => {
  'use strict';
  const { csrf, $, api, el, text, fmt } = window.CleavePage;

  // ---- Fleet: one row per (agent, model), sortable and filterable ----
  let fleetRows = [];
  let sortKey = 'agentId';
  let sortDir = 1;
  function flattenFleet(agents) {
    return agents.flatMap((a) =>
      (a.heartbeat.models.length ? a.heartbeat.models : [{}]).map((m) => ({
        // The key the heartbeat was written under (who NATS let write it), never the id inside the body.
        agentId: a.agentId,
        claimedAgentId: a.spoofed ? a.claimedAgentId : undefined,
        stale: a.stale,
        model: m.model ? `${m.model}@${m.version}` : '–',
        split: m.tailOn === 'edge' ? `${m.split} (edge tail)` : m.split,
        codec: m.tailOn === 'edge' ? '–' : m.codec,
        bandwidthMbps: a.heartbeat.bandwidthMbps,
        rttMs: a.heartbeat.rttMs,
        battery: a.heartbeat.battery ? a.heartbeat.battery.level * 100 : undefined,
        charging: a.heartbeat.battery ? a.heartbeat.battery.charging : undefined,
        requests: m.requests,
        exitRate: m.exitRate,
        objective: m.objective,
        budgetPoints: m.budgetPoints,
        p50Ms: m.p50Ms,
        p95Ms: m.p95Ms,
        offloads: m.offloads,
        fallbacks: m.fallbacks,
        lastError: a.heartbeat.lastError,
      })),
    );
  }
  function renderFleet() {
    const filter = $('#fleet-filter').value.trim().toLowerCase();
    const rows = fleetRows
      .filter((r) => !filter || JSON.stringify(r).toLowerCase().includes(filter))
      .sort((a, b) => (a[sortKey] > b[sortKey] ? sortDir : a[sortKey] < b[sortKey] ? -sortDir : 0));
    const tbody = $('#fleet-table tbody');
    tbody.replaceChildren(
      ...rows.map((r) => {
        const tr = document.createElement('tr');
        tr.dataset.agent = r.agentId;
        tr.className = [r.stale ? 'stale' : '', r.claimedAgentId !== undefined ? 'spoofed' : ''].join(' ').trim();
        const cells = [
          r.claimedAgentId !== undefined ? `${r.agentId} ⚠ claims to be ${r.claimedAgentId}` : r.agentId,
          r.model,
          r.split,
          r.codec,
          fmt(r.bandwidthMbps, 2),
          fmt(r.rttMs, 1),
          r.battery === undefined ? 'mains' : `${fmt(r.battery, 0)}%${r.charging ? ' ⚡' : ''}`,
          // Rates and latencies are per heartbeat interval: an idle interval has none, which is not 0%.
          r.exitRate === undefined || r.requests === 0
            ? `idle${r.budgetPoints !== undefined ? ` (budget ${fmt(r.budgetPoints, 1)} pt, ${text(r.objective)})` : ''}`
            : `${fmt(r.exitRate * 100, 1)}%${r.budgetPoints !== undefined ? ` (budget ${fmt(r.budgetPoints, 1)} pt, ${text(r.objective)})` : ''}`,
          r.requests === 0 ? '–' : `${fmt(r.p50Ms, 1)} / ${fmt(r.p95Ms, 1)}`,
          text(r.offloads),
          text(r.fallbacks),
          text(r.lastError),
        ];
        tr.replaceChildren(
          ...cells.map((c, i) => {
            const td = document.createElement('td');
            td.textContent = c;
            // The agent id links to its page (the id is a subject token, encoded anyway).
            if (i === 0)
              td.replaceChildren(el('a', { href: `/agents/${encodeURIComponent(r.agentId)}`, textContent: c }));
            if (i === 0 && r.claimedAgentId !== undefined) {
              td.className = 'identity-warning';
              td.title = `This heartbeat was written by ${r.agentId} but names ${r.claimedAgentId}: a misconfigured or compromised agent.`;
            }
            if (i === 2) td.className = 'split';
            if (i === 7) td.className = 'exit';
            return td;
          }),
        );
        return tr;
      }),
    );
    const scope = $('#policy-scope');
    const known = new Set([...scope.options].map((o) => o.value));
    for (const id of new Set(fleetRows.map((r) => r.agentId))) {
      if (!known.has(`agent:${id}`)) scope.append(new Option(`agent ${id}`, `agent:${id}`));
    }
  }
  document.querySelectorAll('#fleet-table th[data-sort]').forEach((th) =>
    th.addEventListener('click', () => {
      sortDir = sortKey === th.dataset.sort ? -sortDir : 1;
      sortKey = th.dataset.sort;
      renderFleet();
    }),
  );
  $('#fleet-filter').addEventListener('input', renderFleet);

  function renderCloud(replicas) {
    if (replicas.length === 0) {
      const empty = el('td', {
        colSpan: 6,
        className: 'empty',
        textContent: 'No replica answers: start one with cleave cloud.',
      });
      $('#cloud-table tbody').replaceChildren(el('tr', {}, empty));
      return;
    }
    $('#cloud-table tbody').replaceChildren(
      ...replicas.map((r) => {
        const tr = document.createElement('tr');
        tr.dataset.replica = r.replica || r.id;
        const sum = (k) => r.endpoints.reduce((s, e) => s + (e[k] || 0), 0);
        const avg = r.endpoints.length
          ? r.endpoints.reduce((s, e) => s + e.averageProcessingMs, 0) / r.endpoints.length
          : 0;
        const batches = r.endpoints
          .map((e) => (e.data && e.data.batches ? JSON.stringify(e.data.batches) : ''))
          .join(' ');
        // The name it was started with (--replica); the NATS service id only when it gave none.
        const name = r.replica ? r.replica : `${r.id} (unnamed)`;
        for (const c of [name, r.version, sum('requests'), sum('errors'), fmt(avg, 2), batches || '–']) {
          const td = document.createElement('td');
          td.textContent = String(c);
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  // ---- Audit ----
  async function renderAudit() {
    const { entries } = await api('/audit');
    $('#audit-list').replaceChildren(
      ...entries.map((e) => {
        const li = document.createElement('li');
        li.textContent = `${e.at} ${e.who} ${e.action} ${e.target} ${JSON.stringify(e.detail)}`;
        return li;
      }),
    );
  }

  // ---- Live updates ----
  function applySnapshot({ agents, replicas }) {
    fleetRows = flattenFleet(agents);
    renderFleet();
    renderCloud(replicas);
  }
  const events = new EventSource('/api/events');
  // Log out with the CSRF header, as every other write: the server revokes the session, then shows the login form.
  $('form.who').addEventListener('submit', async (event) => {
    event.preventDefault();
    events.close();
    await fetch('/logout', { method: 'POST', headers: { 'x-cleave-csrf': csrf } }).catch(() => undefined);
    location.assign('/login');
  });
  events.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
  events.onerror = () => ($('#fleet-live').textContent = 'reconnecting…');
  events.onopen = () => ($('#fleet-live').textContent = 'live');

  Promise.all([api('/fleet'), api('/cloud')]).then(([f, c]) =>
    applySnapshot({ agents: f.agents, replicas: c.replicas }),
  );
  // A promotion or a cancelled rollout (rollouts.js) and a policy change (policies.js) write the audit log.
  document.addEventListener('cleave:current-changed', () => void renderAudit());
  document.addEventListener('cleave:audit-changed', () => void renderAudit());
  void renderAudit();
})();
