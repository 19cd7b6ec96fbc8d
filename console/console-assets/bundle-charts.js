// Models and bundles: the version list (open a chart, promote), the split-point chart at a typed or slid bandwidth
// and RTT (log axis, totals on the bars, joules under the energy objective), the candidates' cut positions and
// sizes with the agents on each now, and the exit curve zoomed to its data with every budget labelled and each
// agent's live operating point. Plain browser JS on Chart.js and its annotation and datalabels plugins.
(() => {
  'use strict';
  const { $, api, el, text, fmt, bytes } = window.CleavePage;
  const LIVE_REFRESH_MS = 5000;

  let current = null; // { model, version, manifest, view, usage }
  let splitChart = null;
  let exitChart = null;

  // ---- The version list ----
  async function renderBundles() {
    const { models } = await api('/bundles');
    const list = $('#bundle-list');
    if (models.length === 0) {
      list.textContent = 'No bundle published yet: run cleave partition MODEL.onnx --out DIR, then cleave publish DIR.';
      return;
    }
    list.replaceChildren(
      ...models.map((m) => {
        const div = el('div', {}, el('strong', { textContent: `${m.model} (current ${text(m.current)}) ` }));
        for (const v of m.versions) {
          // Who signed it, checked as the agents check it (filled in once the view arrives).
          const signer = el('span', { className: 'signer', textContent: '…' });
          signer.dataset.version = `${m.model}/${v}`;
          div.append(signer);
          void api(`/bundles/${m.model}/${v}/view`).then(
            (view) => showIntegrity(signer, view.integrity),
            (err) => showIntegrity(signer, { status: 'unreadable', detail: `cannot check: ${err.message}` }),
          );
          const open = el('button', { textContent: `chart ${v}` });
          open.dataset.open = `${m.model}/${v}`;
          open.addEventListener('click', () => void openBundle(m.model, v));
          div.append(open);
          if (v !== m.current) {
            const promote = el('button', { textContent: `make ${v} current` });
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

  const INTEGRITY_MARK = { verified: '✓', untrusted: '?', unsigned: '✗', bad_signature: '✗', content_mismatch: '✗' };
  function showIntegrity(node, integrity) {
    node.dataset.integrity = integrity.status;
    node.textContent = ` ${INTEGRITY_MARK[integrity.status] || '✗'} `;
    node.title = integrity.detail;
    node.className = `signer signer-${integrity.status}`;
  }

  async function openBundle(model, version) {
    const [manifest, view, usage] = await Promise.all([
      api(`/bundles/${model}/${version}`),
      api(`/bundles/${model}/${version}/view`),
      api(`/bundles/${model}/${version}/usage`),
    ]);
    current = { model, version, manifest, view, usage };
    $('#bundle-detail').hidden = false;
    $('#bundle-title').textContent = `${model} ${version}`;
    $('#rtt-ms').value = String(manifest.plan.rttMs);
    $('#bundle-signer').dataset.integrity = view.integrity.status;
    $('#bundle-signer').textContent = view.integrity.detail;
    renderBundleFacts();
    await drawSplitChart();
    drawExitChart();
  }

  // ---- The task and every final output of the open version: exits stand in for the primary one only ----
  const dims = (shape) => `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
  function renderBundleFacts() {
    const { view } = current;
    const task = $('#bundle-task');
    task.dataset.task = view.task;
    task.textContent = `Task: ${view.task}${view.taskDeclared ? '' : ' (not declared; older bundle)'} · ${
      view.finals.length
    } final output${view.finals.length === 1 ? '' : 's'}${view.exits.length ? ` · exits: ${view.exits.join(', ')}` : ''}`;
    $('#bundle-finals tbody').replaceChildren(
      ...view.finals.map((f) => {
        const tr = el('tr');
        tr.dataset.output = f.name;
        for (const c of [f.name, f.dtype, dims(f.shape), f.primary ? 'primary' : 'final']) {
          tr.append(el('td', { textContent: c }));
        }
        return tr;
      }),
    );
  }

  // ---- Bandwidth: a log slider and a typed value kept in step; the typed one is what the chart uses ----
  const mbps = () => Number($('#bandwidth-mbps').value);
  $('#bandwidth').addEventListener('input', () => {
    $('#bandwidth-mbps').value = (10 ** Number($('#bandwidth').value)).toFixed(2);
    void drawSplitChart();
  });
  $('#bandwidth-mbps').addEventListener('change', () => {
    if (!(mbps() > 0)) return;
    $('#bandwidth').value = String(Math.log10(mbps()));
    void drawSplitChart();
  });
  $('#rtt-ms').addEventListener('change', () => void drawSplitChart());
  $('#objective').addEventListener('change', () => void drawSplitChart());

  /** Agents on each candidate of the open version now, by candidate id. */
  function agentsByCandidate() {
    const out = new Map();
    for (const a of current.usage.agents) out.set(a.split, [...(out.get(a.split) || []), a.agentId]);
    return out;
  }

  /** Where a candidate cuts: the share of the edge-only compute its head runs, or the ends of the model. */
  function cutPosition(candidate, edgeOnlyMs) {
    if (!candidate || candidate.kind === 'cloud-only') return 'the input (cloud only)';
    if (candidate.kind === 'edge-only') return 'the whole model (edge only)';
    const ms = candidate.profile.edge ? candidate.profile.edge.medianMs : undefined;
    return edgeOnlyMs > 0 && ms !== undefined ? `${fmt((100 * ms) / edgeOnlyMs, 0)}% of the edge compute` : '–';
  }

  async function drawSplitChart() {
    if (!current || !(mbps() > 0)) return;
    $('#bandwidth-value').textContent = `${fmt(mbps(), 2)} Mbps`;
    const objective = $('#objective').value;
    const q = new URLSearchParams({ mbps: String(mbps()), objective });
    if ($('#rtt-ms').value !== '') q.set('rttMs', $('#rtt-ms').value);
    const { bars, best } = await api(`/bundles/${current.model}/${current.version}/costs?${q}`);
    const using = agentsByCandidate();
    const energy = objective === 'energy';
    const labels = bars.map(
      (b) =>
        `${b.candidate}${b.candidate === best ? ' ★' : ''} (${b.tailOn === 'edge' ? 'tail on edge' : b.codec})` +
        (using.has(b.candidate) ? ` ● ${using.get(b.candidate).length}` : ''),
    );
    // Energy is the edge's joules alone (the cloud's are not the device's to spend); latency is stacked by stage.
    const datasets = energy
      ? [{ label: 'edge energy mJ', data: bars.map((b) => b.edgeJoules * 1000), backgroundColor: '#b279a2' }]
      : [
          { label: 'edge compute ms', data: bars.map((b) => b.edgeMs), backgroundColor: '#4c78a8' },
          { label: 'transfer + RTT ms', data: bars.map((b) => b.transferMs + b.rttMs), backgroundColor: '#f58518' },
          { label: 'cloud compute ms', data: bars.map((b) => b.cloudMs), backgroundColor: '#54a24b' },
        ];
    const total = (i) => datasets.reduce((s, d) => s + (d.data[i] || 0), 0);
    const unit = energy ? 'mJ' : 'ms';
    const data = { labels, datasets };
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { stacked: true, ticks: { autoSkip: false, maxRotation: 60 } },
        // Costs span four orders of magnitude (a sub-ms exit to seconds at 0.1 Mbps): linear hides most bars.
        y: { type: 'logarithmic', stacked: true, title: { display: true, text: `${unit} (log scale)` } },
      },
      plugins: {
        datalabels: {
          // One total per bar, on top of its stack.
          display: (ctx) => ctx.datasetIndex === datasets.length - 1,
          formatter: (_v, ctx) => fmt(total(ctx.dataIndex), total(ctx.dataIndex) < 10 ? 1 : 0),
          anchor: 'end',
          align: 'end',
          font: { size: 10 },
        },
      },
    };
    if (splitChart) {
      splitChart.data = data;
      splitChart.options = options;
      splitChart.update();
    } else splitChart = new Chart($('#split-chart'), { type: 'bar', data, options, plugins: [ChartDataLabels] });
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
    renderCuts(bars, using, total, unit);
  }

  function renderCuts(bars, using, total, unit) {
    const byId = new Map(current.manifest.candidates.map((c) => [c.id, c]));
    const edgeOnly = current.manifest.candidates.find((c) => c.kind === 'edge-only');
    const edgeOnlyMs = edgeOnly && edgeOnly.profile.edge ? edgeOnly.profile.edge.medianMs : 0;
    $('#split-cuts tbody').replaceChildren(
      ...bars.map((b, i) => {
        const c = byId.get(b.candidate);
        const tensors = c ? c.cutTensors.map((t) => `${t.name} ${dims(t.shape)} ${t.dtype}`).join(', ') : '';
        const tr = el(
          'tr',
          {},
          el('td', { textContent: `${b.candidate}${i === 0 ? ' ★' : ''}` }),
          el('td', { textContent: cutPosition(c, edgeOnlyMs) }),
          el('td', { textContent: tensors || '–' }),
          el('td', {
            textContent: b.payloadBytes > 0 ? `${bytes(b.payloadBytes)} / ${bytes(b.replyPayloadBytes)}` : '–',
          }),
          el('td', { textContent: `${fmt(total(i), 1)} ${unit}` }),
          el('td', { textContent: (using.get(b.candidate) || []).join(', ') || '–' }),
        );
        tr.dataset.candidate = b.candidate;
        tr.dataset.agents = String((using.get(b.candidate) || []).length);
        return tr;
      }),
    );
  }

  // ---- The exit curve, read through the task: tasks without a confidence (and models with several final
  // outputs) get splits only; the y axis is accuracy, pixel accuracy or agreement with the full model ----
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
    // Drawn along the exit rate: budgets are calibrated in steps whose exit rates need not grow monotonically.
    const points = policy.curve
      .map((p) => ({ x: p.exitRate * 100, y: p.accuracy * 100, budget: p.budgetPoints }))
      .sort((a, b) => a.x - b.x);
    const op = policy.operatingPoint;
    // Each agent at the operating point it runs now: its measured exit rate over the last heartbeat interval, or
    // the calibrated rate of its budget when it was idle (then labelled so).
    const live = current.usage.agents.flatMap((a) => {
      const calibrated = policy.curve.find((p) => p.budgetPoints === a.budgetPoints);
      const rate = a.exitRate !== null ? a.exitRate : calibrated ? calibrated.exitRate : null;
      if (rate === null || a.expectedAccuracy === null) return [];
      const agent = a.exitRate !== null ? a.agentId : `${a.agentId} (idle)`;
      return [{ x: rate * 100, y: a.expectedAccuracy * 100, agent }];
    });
    // Zoomed to the data: every point sits in a few percent of the range, which 0–100% would flatten.
    const xs = [...points, ...live].map((p) => p.x);
    const ys = [...points, ...live].map((p) => p.y).concat(policy.floorAccuracy * 100);
    const pad = (lo, hi) => Math.max(0.5, (hi - lo) * 0.08);
    const [xLo, xHi] = [Math.min(...xs), Math.max(...xs)];
    const [yLo, yHi] = [Math.min(...ys), Math.max(...ys)];
    exitChart = new Chart($('#exit-chart'), {
      type: 'scatter',
      plugins: [ChartDataLabels],
      data: {
        datasets: [
          {
            label: 'exit curve (accuracy budgets)',
            data: points,
            showLine: true,
            borderColor: '#4c78a8',
            datalabels: { formatter: (p) => `${fmt(p.budget, 1)} pt`, align: 'top', font: { size: 9 } },
          },
          {
            label: 'bundle default',
            data: [{ x: op.exitRate * 100, y: op.accuracy * 100 }],
            pointRadius: 7,
            backgroundColor: '#e45756',
            datalabels: { display: false },
          },
          {
            label: 'agents now',
            data: live,
            pointRadius: 6,
            pointStyle: 'triangle',
            backgroundColor: '#54a24b',
            datalabels: { formatter: (p) => p.agent, align: 'bottom', font: { size: 9 } },
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: {
            title: { display: true, text: 'answered early %' },
            min: Math.max(0, xLo - pad(xLo, xHi)),
            max: Math.min(100, xHi + pad(xLo, xHi)),
          },
          y: {
            title: { display: true, text: `${metric} %` },
            min: Math.max(0, yLo - pad(yLo, yHi)),
            max: Math.min(100, yHi + pad(yLo, yHi)),
          },
        },
        plugins: {
          annotation: {
            annotations: {
              floor: {
                type: 'line',
                yMin: policy.floorAccuracy * 100,
                yMax: policy.floorAccuracy * 100,
                borderColor: '#a33',
                borderDash: [4, 4],
                label: { display: true, content: `${metric} floor`, position: 'start', font: { size: 10 } },
              },
            },
          },
        },
      },
    });
  }

  // The agents' splits and exit rates change while a bundle is open: refresh what depends on them.
  setInterval(async () => {
    if (!current) return;
    try {
      current.usage = await api(`/bundles/${current.model}/${current.version}/usage`);
      await drawSplitChart();
      drawExitChart();
    } catch {
      // the next refresh tries again; the fleet's live badge says when the console is unreachable
    }
  }, LIVE_REFRESH_MS);

  void renderBundles();
  // A promotion or a cancelled rollout (rollouts.js) changes the current versions.
  document.addEventListener('cleave:current-changed', () => void renderBundles());
})();
