// Cleave console page script: plain browser JavaScript, no build step. Reads the JSON API, keeps
// the fleet live over server-sent events, and draws charts with Chart.js.
(() => {
  'use strict';
  const { csrf, $, api, el, text, fmt } = window.CleavePage;

  // ---- Fleet: one page of agents (sorted and filtered by the server), one row per (agent, model) ----
  let fleetRows = [];
  let sortKey = 'agentId';
  let sortDir = 1;
  const PAGE = 100;
  const fleet = { offset: 0, filter: '', total: 0, order: [], agents: new Map(), summary: null };
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
  const count = (n) => n.toLocaleString('en-US');
  function renderPager() {
    const { offset, total, summary } = fleet;
    const last = Math.min(offset + fleet.order.length, total);
    $('#fleet-range').textContent = total ? `${count(offset + 1)}–${count(last)} of ${count(total)}` : 'no agents';
    $('#fleet-range').dataset.total = String(total);
    $('#fleet-prev').disabled = offset === 0;
    $('#fleet-next').disabled = offset + PAGE >= total;
    const s = summary;
    $('#fleet-summary').textContent = s
      ? `${count(s.agents)} agents · ${count(s.stale)} stale · ${count(s.spoofed)} spoofed · ${count(s.offloading)} offloading · ${count(s.withErrors)} with errors · ${Object.entries(
          s.models,
        )
          .map(([m, n]) => `${m}: ${count(n)}`)
          .join(', ')}`
      : '';
  }
  function renderFleet() {
    fleetRows = flattenFleet(fleet.order.map((id) => fleet.agents.get(id)).filter(Boolean));
    renderPager();
    const rows = fleetRows;
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
      fleet.offset = 0;
      followFleet();
    }),
  );
  let filterTimer;
  $('#fleet-filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      fleet.filter = $('#fleet-filter').value.trim();
      fleet.offset = 0;
      followFleet();
    }, 250);
  });
  $('#fleet-prev').addEventListener('click', () => {
    fleet.offset = Math.max(0, fleet.offset - PAGE);
    followFleet();
  });
  $('#fleet-next').addEventListener('click', () => {
    fleet.offset += PAGE;
    followFleet();
  });

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

  // ---- Live updates: the page asked for comes whole once, then only its changes ----
  function applySnapshot({ total, agents, summary }) {
    fleet.total = total;
    fleet.summary = summary;
    fleet.order = agents.map((a) => a.agentId);
    fleet.agents = new Map(agents.map((a) => [a.agentId, a]));
    renderFleet();
  }
  function applyDelta({ changed, removed, order, total, summary }) {
    for (const id of removed) fleet.agents.delete(id);
    for (const a of changed) fleet.agents.set(a.agentId, a);
    if (order) fleet.order = order;
    fleet.total = total;
    if (summary) fleet.summary = summary;
    renderFleet();
  }
  let events;
  // A new page, sort or filter is a new stream: the server sends its snapshot, then the changes of that page.
  function followFleet() {
    if (events) events.close();
    const q = new URLSearchParams({
      offset: String(fleet.offset),
      limit: String(PAGE),
      sort: `${sortDir < 0 ? '-' : ''}${sortKey}`,
      filter: fleet.filter,
    });
    events = new EventSource(`/api/events?${q}`);
    events.addEventListener('snapshot', (e) => applySnapshot(JSON.parse(e.data)));
    events.addEventListener('delta', (e) => applyDelta(JSON.parse(e.data)));
    events.addEventListener('replicas', (e) => renderCloud(JSON.parse(e.data).replicas));
    events.onerror = () => ($('#fleet-live').textContent = 'reconnecting…');
    events.onopen = () => ($('#fleet-live').textContent = 'live');
  }
  followFleet();
  // Log out with the CSRF header, as every other write: the server revokes the session, then shows the login form.
  $('form.who').addEventListener('submit', async (event) => {
    event.preventDefault();
    events.close();
    await fetch('/logout', { method: 'POST', headers: { 'x-cleave-csrf': csrf } }).catch(() => undefined);
    location.assign('/login');
  });
  // A promotion or a cancelled rollout (rollouts.js) and a policy change (policies.js) write the audit log.
  document.addEventListener('cleave:current-changed', () => void renderAudit());
  document.addEventListener('cleave:audit-changed', () => void renderAudit());
  void renderAudit();
})();
