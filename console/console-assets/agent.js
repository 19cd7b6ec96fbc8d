// The per-agent page: the agent's decision, reason, breaker and switches from its latest heartbeat, and Chart.js
// line charts of its history with a vertical line at every split/codec/objective/version change. Refreshes every
// few seconds. Every text from the API goes in as text (agent ids, reasons and splits come from the network).
(() => {
  'use strict';
  const { $, api, el, text, fmt, pct } = window.CleavePage;
  const agentId = document.querySelector('meta[name="cleave-agent"]').content;
  const path = `/agents/${encodeURIComponent(agentId)}`;
  // A long window re-reads many beats (a day of 5 s beats is ~17,000, about a second to read): refresh it less often.
  const refreshMs = () => (Number($('#history-minutes').value) <= 60 ? 3000 : 30_000);
  const MARKER_COLOURS = { split: '#b3261e', codec: '#6a3fb5', objective: '#c58a00', version: '#1f6f43' };

  const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
  /** A line chart on a linear time axis (no date adapter needed): values are [t, y] points. */
  function lineChart(canvas, datasets, y = {}) {
    return new Chart(canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        spanGaps: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', ticks: { callback: (v) => clock(v), maxTicksLimit: 5, maxRotation: 0 } },
          y: { beginAtZero: true, ...y },
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { callbacks: { title: (items) => (items[0] ? clock(items[0].parsed.x) : '') } },
          annotation: { annotations: {} },
        },
      },
    });
  }
  const series = (label, colour, extra = {}) => ({
    label,
    data: [],
    borderColor: colour,
    backgroundColor: colour,
    pointRadius: 0,
    borderWidth: 2,
    ...extra,
  });
  const charts = {
    latency: lineChart($('#chart-latency'), [series('p50 ms', '#2a6fdb'), series('p95 ms', '#b3261e')]),
    exit: lineChart($('#chart-exit'), [series('exit rate %', '#1f6f43')], { max: 100 }),
    ranOn: lineChart(
      $('#chart-ran-on'),
      [
        series('edge exit', '#1f6f43', { fill: true }),
        series('edge tail', '#7fb069', { fill: true }),
        series('cloud', '#2a6fdb', { fill: true }),
        series('fallback', '#b3261e', { fill: true }),
      ],
      { stacked: true },
    ),
    link: lineChart($('#chart-link'), [
      series('bandwidth Mbps (est.)', '#2a6fdb', { yAxisID: 'y' }),
      series('RTT ms (est.)', '#c58a00', { yAxisID: 'rtt' }),
    ]),
    battery: lineChart($('#chart-battery'), [series('battery %', '#1f6f43')], { max: 100 }),
  };
  charts.link.options.scales.rtt = { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false } };

  /** Sets every chart's data and the change markers, then redraws once. */
  function drawHistory(h) {
    const at = (f) => h.points.map((p) => ({ x: p.t, y: f(p) }));
    const nullable = (v, scale = 1) => (v === null ? null : v * scale);
    const data = {
      latency: [at((p) => p.p50Ms), at((p) => p.p95Ms)],
      exit: [at((p) => nullable(p.exitRate, 100))],
      ranOn: [
        at((p) => p.ranOn.edgeExit),
        at((p) => p.ranOn.edgeTail),
        at((p) => p.ranOn.cloud),
        at((p) => p.ranOn.fallback),
      ],
      link: [at((p) => p.bandwidthMbpsEstimate), at((p) => p.rttMsEstimate)],
      battery: [at((p) => nullable(p.battery, 100))],
    };
    const annotations = Object.fromEntries(
      h.markers.map((m, i) => [
        `marker-${i}`,
        {
          type: 'line',
          xMin: m.t,
          xMax: m.t,
          borderColor: MARKER_COLOURS[m.kind] || '#555',
          borderWidth: 1,
          borderDash: [4, 3],
          label: { display: false, content: `${m.kind}: ${m.to}` },
        },
      ]),
    );
    // The axis starts at the first beat when the history is shorter than the window, so the data fills the chart.
    const first = h.points.length ? Math.max(h.from, h.points[0].t) : h.from;
    const radius = h.points.length <= 60 ? 2 : 0;
    charts.battery.data.datasets[0].label = h.points.some((p) => p.battery !== null)
      ? 'battery %'
      : 'battery % (none reported: on mains)';
    for (const [name, chart] of Object.entries(charts)) {
      data[name].forEach((points, i) => {
        chart.data.datasets[i].data = points;
        chart.data.datasets[i].pointRadius = radius;
      });
      chart.options.scales.x.min = first;
      chart.options.scales.x.max = h.to;
      chart.options.plugins.annotation.annotations = annotations;
      chart.update('none');
    }
    $('#marker-table tbody').replaceChildren(
      ...(h.markers.length
        ? [...h.markers]
            .reverse()
            .map((m) =>
              el(
                'tr',
                { className: `marker marker-${m.kind}` },
                ...[clock(m.t), m.kind, m.from, m.to, text(m.reason)].map((c) => el('td', { textContent: c })),
              ),
            )
        : [el('tr', {}, el('td', { colSpan: 5, className: 'empty', textContent: 'No changes in this window.' }))]),
    );
    const models = $('#history-model');
    const known = [...models.options].map((o) => o.value);
    for (const m of h.models) if (!known.includes(m)) models.append(new Option(m, m));
    if (!models.value && h.model) models.value = h.model;
  }

  /** The decision per model, the breaker and the controller's latest switches. */
  function drawAgent(a) {
    const model = a.decisions.find((d) => d.model === $('#history-model').value) || a.decisions[0];
    const rows = [
      ['Breaker', a.breaker === null ? '–' : a.breaker, a.breaker === 'open' ? 'breaker-open' : ''],
      ['Last heartbeat', `${fmt(a.ageMs / 1000, 1)} s ago${a.stale ? ' (stale)' : ''}`],
    ];
    if (a.spoofed) rows.push(['Warning', `the heartbeat names ${a.claimedAgentId}`, 'breaker-open']);
    if (model) {
      rows.push(
        ['Model', `${model.model}@${model.version}`],
        ['Decision', `${model.split}${model.tailOn === 'edge' ? ' (edge tail)' : ''} · ${model.codec}`],
        [
          'Objective',
          `${text(model.objective)}${model.budgetPoints === null ? '' : ` · budget ${fmt(model.budgetPoints, 1)} pt`}${model.expectedAccuracy === null ? '' : ` · expected accuracy ${pct(model.expectedAccuracy)}`}`,
        ],
        ['Reason', text(model.reason)],
      );
    } else rows.push(['Decision', 'no model loaded']);
    $('#agent-decision').replaceChildren(
      ...rows.flatMap(([k, v, cls]) => [
        el('dt', { textContent: k }),
        el('dd', { textContent: v, className: cls || '', id: `field-${k.toLowerCase().replace(/\s+/g, '-')}` }),
      ]),
    );
    const switches = model ? [...model.switches].reverse() : [];
    $('#switch-table tbody').replaceChildren(
      ...(switches.length
        ? switches.map((s) =>
            el('tr', {}, ...[s.at, text(s.from), s.to, s.reason].map((c) => el('td', { textContent: c }))),
          )
        : [el('tr', {}, el('td', { colSpan: 4, className: 'empty', textContent: 'No switches reported.' }))]),
    );
  }

  async function refresh() {
    const minutes = $('#history-minutes').value;
    const model = $('#history-model').value;
    const query = `?minutes=${encodeURIComponent(minutes)}${model ? `&model=${encodeURIComponent(model)}` : ''}`;
    try {
      const [agent, history] = await Promise.all([
        api(path).catch((err) => (err.status === 404 ? null : Promise.reject(err))),
        api(`${path}/history${query}`),
      ]);
      drawHistory(history);
      if (agent) drawAgent(agent);
      $('#agent-status').textContent = agent
        ? `${history.beats} heartbeats in the window, ${history.points.length} points.`
        : 'No heartbeat from this agent.';
      $('#agent-live').textContent = 'live';
      document.body.dataset.refreshedAt = String(Date.now());
    } catch (err) {
      $('#agent-status').textContent = `Cannot load: ${err.message}`;
      $('#agent-live').textContent = '';
    }
  }
  $('#history-minutes').addEventListener('change', refresh);
  $('#history-model').addEventListener('change', refresh);
  const loop = () => refresh().finally(() => setTimeout(loop, refreshMs()));
  void loop();
  window.CleaveAgent = Object.freeze({ charts, refresh });
})();
