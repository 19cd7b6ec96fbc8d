// Cleave console page script: plain browser JavaScript, no build step. Reads the JSON API, keeps
// the fleet live over server-sent events, and draws charts with Chart.js.
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="cleave-csrf"]').content;
  const $ = (sel) => document.querySelector(sel);
  const text = (v) => (v === undefined || v === null ? '–' : String(v));
  const fmt = (n, d = 1) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(d) : '–');

  async function api(path, options = {}) {
    const res = await fetch(`/api${path}`, {
      ...options,
      headers: { 'content-type': 'application/json', 'x-cleave-csrf': csrf, ...(options.headers || {}) },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.error || res.statusText), { body, status: res.status });
    return body;
  }

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
    $('#cloud-table tbody').replaceChildren(
      ...replicas.map((r) => {
        const tr = document.createElement('tr');
        const sum = (k) => r.endpoints.reduce((s, e) => s + (e[k] || 0), 0);
        const avg = r.endpoints.length
          ? r.endpoints.reduce((s, e) => s + e.averageProcessingMs, 0) / r.endpoints.length
          : 0;
        const batches = r.endpoints
          .map((e) => (e.data && e.data.batches ? JSON.stringify(e.data.batches) : ''))
          .join(' ');
        for (const c of [r.id, r.version, sum('requests'), sum('errors'), fmt(avg, 2), batches || '–']) {
          const td = document.createElement('td');
          td.textContent = String(c);
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  // ---- Bundles, the split-point chart and the exit curve ----
  let current = null;
  let splitChart = null;
  let exitChart = null;
  const mbps = () => 10 ** Number($('#bandwidth').value);
  async function renderBundles() {
    const { models } = await api('/bundles');
    const list = $('#bundle-list');
    list.replaceChildren(
      ...models.map((m) => {
        const div = document.createElement('div');
        const title = document.createElement('strong');
        title.textContent = `${m.model} (current ${text(m.current)}) `;
        div.append(title);
        for (const v of m.versions) {
          const open = document.createElement('button');
          open.textContent = `chart ${v}`;
          open.dataset.open = `${m.model}/${v}`;
          open.addEventListener('click', () => openBundle(m.model, v));
          div.append(open);
          if (v !== m.current) {
            const promote = document.createElement('button');
            promote.textContent = `make ${v} current`;
            promote.dataset.promote = `${m.model}/${v}`;
            // rollouts.js shows what the promotion downloads and changes, and asks to confirm, before it applies.
            promote.addEventListener('click', () =>
              document.dispatchEvent(new CustomEvent('cleave:promote', { detail: { model: m.model, version: v } })),
            );
            div.append(promote);
          }
        }
        return div;
      }),
    );
  }
  async function openBundle(model, version) {
    const [manifest, view] = await Promise.all([
      api(`/bundles/${model}/${version}`),
      api(`/bundles/${model}/${version}/view`),
    ]);
    current = { model, version, manifest, view };
    $('#bundle-detail').hidden = false;
    $('#bundle-title').textContent = `${model} ${version}`;
    renderBundleFacts();
    await drawSplitChart();
    drawExitChart();
  }
  const dims = (shape) => `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
  const bytes = (n) =>
    typeof n !== 'number'
      ? '–'
      : n >= 1048576
        ? `${fmt(n / 1048576, 2)} MB`
        : n >= 1024
          ? `${fmt(n / 1024, 1)} kB`
          : `${n} B`;
  // The task and every final output of the open version: exits stand in for the primary one only.
  function renderBundleFacts() {
    const { view } = current;
    const task = $('#bundle-task');
    task.dataset.task = view.task;
    task.textContent = `Task: ${view.task}${view.taskDeclared ? '' : ' (not declared; older bundle)'} · ${
      view.finals.length
    } final output${view.finals.length === 1 ? '' : 's'}${view.exits.length ? ` · exits: ${view.exits.join(', ')}` : ''}`;
    $('#bundle-finals tbody').replaceChildren(
      ...view.finals.map((f) => {
        const tr = document.createElement('tr');
        tr.dataset.output = f.name;
        for (const c of [f.name, f.dtype, dims(f.shape), f.primary ? 'primary' : 'final']) {
          const td = document.createElement('td');
          td.textContent = c;
          tr.append(td);
        }
        return tr;
      }),
    );
  }
  async function drawSplitChart() {
    if (!current) return;
    $('#bandwidth-value').textContent = `${fmt(mbps(), 2)} Mbps`;
    const q = new URLSearchParams({ mbps: String(mbps()), objective: $('#objective').value });
    const { bars, best } = await api(`/bundles/${current.model}/${current.version}/costs?${q}`);
    const labels = bars.map(
      (b) => `${b.candidate}${b.candidate === best ? ' ★' : ''} (${b.tailOn === 'edge' ? 'tail on edge' : b.codec})`,
    );
    const data = {
      labels,
      datasets: [
        { label: 'edge compute ms', data: bars.map((b) => b.edgeMs), backgroundColor: '#4c78a8' },
        { label: 'transfer + RTT ms', data: bars.map((b) => b.transferMs + b.rttMs), backgroundColor: '#f58518' },
        { label: 'cloud compute ms', data: bars.map((b) => b.cloudMs), backgroundColor: '#54a24b' },
      ],
    };
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true, ticks: { autoSkip: false, maxRotation: 60 } },
        y: { stacked: true, title: { display: true, text: 'ms' } },
      },
    };
    if (splitChart) {
      splitChart.data = data;
      splitChart.update();
    } else splitChart = new Chart($('#split-chart'), { type: 'bar', data, options });
    // The chosen option's wire sizes per sample, envelope included: the request up and the reply (every final output) down.
    const top = bars[0];
    const sizes =
      top && top.payloadBytes > 0
        ? ` (${top.codec}; request ${bytes(top.payloadBytes)}, reply ${bytes(top.replyPayloadBytes)} per sample)`
        : top
          ? ' (nothing crosses the network)'
          : '';
    $('#split-best').textContent = best ? `Best at ${fmt(mbps(), 2)} Mbps: ${best}${sizes}` : 'No feasible candidate';
    $('#split-best').dataset.best = best || '';
    $('#split-best').dataset.replyBytes = top ? String(top.replyPayloadBytes) : '';
  }
  // Read through the task: tasks without a confidence (and models with several final outputs) get splits only;
  // the y axis is accuracy, pixel accuracy (segmentation) or agreement with the full model (unlabelled data).
  function drawExitChart() {
    const policy = current && current.manifest.exitPolicy;
    const curve = current && current.view.exitCurve;
    if (exitChart) exitChart.destroy();
    exitChart = null;
    const note = $('#exit-note');
    note.hidden = !curve || curve.available;
    note.textContent = curve && !curve.available ? curve.note : '';
    $('#exit-chart-box').hidden = !curve || !curve.available;
    if (!policy || !curve || !curve.available) return;
    const metric = curve.metric;
    const points = policy.curve.map((p) => ({ x: p.exitRate * 100, y: p.accuracy * 100 }));
    const op = policy.operatingPoint;
    exitChart = new Chart($('#exit-chart'), {
      type: 'scatter',
      data: {
        datasets: [
          { label: 'exit curve (budgets)', data: points, showLine: true, borderColor: '#4c78a8' },
          {
            label: 'operating point',
            data: [{ x: op.exitRate * 100, y: op.accuracy * 100 }],
            pointRadius: 7,
            backgroundColor: '#e45756',
          },
          {
            label: `${metric} floor`,
            data: [
              { x: 0, y: policy.floorAccuracy * 100 },
              { x: 100, y: policy.floorAccuracy * 100 },
            ],
            showLine: true,
            borderDash: [4, 4],
            pointRadius: 0,
            borderColor: '#a33',
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { title: { display: true, text: 'answered early %' }, min: 0, max: 100 },
          y: { title: { display: true, text: `${metric} %` } },
        },
      },
    });
  }
  $('#bandwidth').addEventListener('input', () => void drawSplitChart());
  $('#objective').addEventListener('change', () => void drawSplitChart());

  // ---- Policies and audit ----
  async function renderPolicies() {
    $('#policy-current').textContent = JSON.stringify(await api('/policies'), null, 2);
  }
  $('#policy-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {};
    for (const [k, v] of form.entries()) {
      if (v === '') continue;
      body[k] = ['deadlineMs', 'budgetPoints', 'floorAccuracy'].includes(k) ? Number(v) : v;
    }
    const scope = $('#policy-scope').value;
    const path = scope === 'fleet' ? '/policies/fleet' : `/policies/agents/${scope.slice(6)}`;
    try {
      await api(path, { method: 'PUT', body: JSON.stringify(body) });
      $('#policy-result').textContent = 'Saved.';
    } catch (err) {
      const fields =
        err.body && err.body.fieldErrors
          ? Object.entries(err.body.fieldErrors).map(([k, v]) => `${k}: ${v.join(', ')}`)
          : [];
      $('#policy-result').textContent = `Not saved: ${[err.message, ...fields].join('; ')}`;
    }
    await Promise.all([renderPolicies(), renderAudit()]);
  });
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
  void renderBundles();
  // A promotion or a cancelled rollout (rollouts.js) changes the current versions and the audit log.
  document.addEventListener('cleave:current-changed', () => void Promise.all([renderBundles(), renderAudit()]));
  void renderPolicies();
  void renderAudit();
})();
