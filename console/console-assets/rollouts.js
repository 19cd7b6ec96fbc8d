// Rollouts section of the console: per model, agents on current, downloading (bytes, %) and failed, a cancel
// button, and the promote dialog (what each agent downloads, the manifest diff, then confirm). Plain browser JS.
(() => {
  'use strict';
  const { $, api, el, bytes, pct } = window.CleavePage;

  function table(headers, rows, className) {
    return el(
      'div',
      { className: 'scroll' },
      el(
        'table',
        { className },
        el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { textContent: h })))),
        el('tbody', {}, ...rows),
      ),
    );
  }

  // ---- Progress per model ----
  // The list is rebuilt on every poll, so a cancel's outcome lives here, not in a DOM node a poll would replace.
  const results = new Map();
  function agentRow(a) {
    const tr = el('tr', { className: `rollout-${a.state}` });
    tr.dataset.agent = a.agentId;
    tr.dataset.state = a.state;
    const d = a.download;
    const download = d ? `${bytes(d.bytes)} of ${bytes(d.totalBytes)} (${d.percent.toFixed(0)}%) of ${d.version}` : '–';
    const bar = el('progress', { max: 100, value: d ? d.percent : a.state === 'current' ? 100 : 0 });
    tr.append(
      el('td', { textContent: a.agentId }),
      el('td', { textContent: a.state, className: 'state' }),
      el('td', { textContent: a.version || '–' }),
      el('td', { className: 'download' }, bar, ' ', download),
      el('td', { textContent: a.error || '', className: 'error-text' }),
    );
    return tr;
  }
  function renderRollouts(rollouts) {
    $('#rollout-list').replaceChildren(
      ...rollouts.map((r) => {
        const c = r.counts;
        const summary = el('p', { className: 'rollout-summary' });
        summary.dataset.model = r.model;
        summary.textContent =
          `${c.current} of ${r.agents.length} agents on current` +
          (c.downloading
            ? `, ${c.downloading} downloading (${bytes(r.downloadedBytes)} of ${bytes(r.totalBytes)})`
            : '') +
          (c.failed ? `, ${c.failed} failed` : '') +
          (c.behind ? `, ${c.behind} not started` : '') +
          (c.stale ? `, ${c.stale} stale` : '');
        const cancel = el('button', { textContent: 'Cancel rollout (back to the previous version)' });
        cancel.dataset.cancel = r.model;
        cancel.addEventListener('click', () => void cancelRollout(r.model, r.current));
        const box = el(
          'div',
          { className: 'rollout' },
          el('h3', { textContent: `${r.model} · current ${r.current || 'none'}` }),
          summary,
          table(['Agent', 'State', 'Serving', 'Download', 'Error'], r.agents.map(agentRow), 'rollout-table'),
          el(
            'div',
            { className: 'tools' },
            cancel,
            el('output', { className: 'rollout-result', role: 'status', textContent: results.get(r.model) || '' }),
          ),
        );
        box.dataset.model = r.model;
        return box;
      }),
    );
    if (rollouts.length === 0) $('#rollout-list').textContent = 'No bundle published yet: run cleave publish.';
  }
  async function cancelRollout(model, current) {
    if (!confirm(`Cancel the rollout of ${model}@${current} and make the previous version current again?`)) return;
    try {
      const r = await api(`/models/${model}/rollout/cancel`, {
        method: 'POST',
        body: JSON.stringify({ expectedCurrent: current }),
      });
      results.set(model, `Cancelled ${r.cancelled}: ${r.current} is current again.`);
      document.dispatchEvent(new CustomEvent('cleave:current-changed'));
    } catch (err) {
      results.set(model, `Not cancelled: ${err.message}`);
    }
    await refresh();
  }
  async function refresh() {
    try {
      renderRollouts((await api('/rollouts')).rollouts);
    } catch {
      // the next poll tries again; the live badge of the fleet says when the console is unreachable
    }
  }

  // ---- Promote: preview, then confirm ----
  let pending = null;
  const dialog = $('#promote-dialog');
  function diffRows(diff) {
    const b = diff.exits.before;
    const a = diff.exits.after;
    const row = (what, before, after) =>
      el(
        'tr',
        {},
        el('th', { textContent: what }),
        el('td', { textContent: before }),
        el('td', { textContent: after }),
      );
    return [
      row('Version', diff.from || 'none', diff.to),
      row('Exit rate', pct(b && b.exitRate), pct(a && a.exitRate)),
      row('Accuracy at the operating point', pct(b && b.accuracy), pct(a && a.accuracy)),
      row('Final accuracy', pct(b && b.finalAccuracy), pct(a && a.finalAccuracy)),
      row('Accuracy floor', pct(b && b.floorAccuracy), pct(a && a.floorAccuracy)),
      row('Bundle size', bytes(diff.bundleBytes.before), bytes(diff.bundleBytes.after)),
      row('Candidates added', '', diff.candidates.added.join(', ') || 'none'),
      row('Candidates removed', diff.candidates.removed.join(', ') || 'none', ''),
    ];
  }
  async function openPromote(model, version) {
    pending = null;
    $('#promote-title').textContent = `Promote ${model}@${version}?`;
    $('#promote-body').textContent = 'Computing what each agent downloads…';
    $('#promote-result').textContent = '';
    $('#promote-confirm').disabled = true;
    if (!dialog.open) dialog.showModal();
    try {
      const p = await api(`/models/${model}/promotion?version=${encodeURIComponent(version)}`);
      pending = p;
      const agents = p.agents.map((a) => {
        const tr = el(
          'tr',
          {},
          el('td', { textContent: a.agentId }),
          el('td', { textContent: a.heldVersion + (a.heldKnown ? '' : ' (not in the store: full download)') }),
          el('td', { textContent: bytes(a.bytes), className: 'bytes' }),
          el('td', { textContent: `${a.files.length} files, ${bytes(a.reusedBytes)} reused` }),
        );
        tr.dataset.agent = a.agentId;
        tr.dataset.bytes = String(a.bytes);
        return tr;
      });
      const total = el('p', { id: 'promote-total' });
      total.dataset.bytes = String(p.totalBytes);
      total.textContent = `${p.agents.length} agents download ${bytes(p.totalBytes)} in all (plus the manifest each).`;
      $('#promote-body').replaceChildren(
        table(['', 'Current', 'New'], diffRows(p.diff), 'promote-diff'),
        total,
        table(['Agent', 'Holds', 'Downloads', 'Files'], agents, 'promote-agents'),
      );
      $('#promote-confirm').disabled = false;
    } catch (err) {
      $('#promote-body').textContent = `Cannot preview: ${err.message}`;
    }
  }
  $('#promote-confirm').addEventListener('click', async () => {
    if (!pending) return;
    try {
      await api(`/models/${pending.model}/promotion`, { method: 'POST', body: JSON.stringify(pending.confirm) });
      dialog.close('confirmed');
      document.dispatchEvent(new CustomEvent('cleave:current-changed'));
      void refresh();
    } catch (err) {
      $('#promote-result').textContent = `Not promoted: ${err.message}`;
    }
  });
  document.addEventListener('cleave:promote', (e) => void openPromote(e.detail.model, e.detail.version));

  void refresh();
  setInterval(() => void refresh(), 1000);
})();
