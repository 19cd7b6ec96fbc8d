// Alerts section of the console: alerts raised now (kind, subject, why, since when) and those cleared recently,
// polled from /api/alerts (the server evaluates them whether or not a page is open). Plain browser JS.
(() => {
  'use strict';
  const { $ } = window.CleavePage;
  const ago = (ms) => (ms < 60_000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60_000)} min ago`);

  function item(a, now) {
    const li = document.createElement('li');
    li.className = `alert alert-${a.severity}${a.clearedAt ? ' alert-cleared' : ''}`;
    li.dataset.alert = a.alert;
    if (a.agent) li.dataset.agent = a.agent;
    if (a.model) li.dataset.model = a.model;
    if (a.replica) li.dataset.replica = a.replica;
    const subject = [a.agent, a.model, a.replica].filter(Boolean).join(' · ') || 'fleet';
    const kind = document.createElement('strong');
    kind.textContent = `${a.alert.replace(/_/g, ' ')} · ${subject}`;
    const when = a.clearedAt
      ? `raised ${ago(now - a.raisedAt)}, cleared ${ago(now - a.clearedAt)}`
      : `raised ${ago(now - a.raisedAt)}`;
    const why = document.createElement('span');
    why.className = 'reason';
    why.textContent = `${a.reason} (${when})`;
    li.append(kind, ' ', why);
    return li;
  }

  async function refresh() {
    let state;
    try {
      const res = await fetch('/api/alerts');
      if (!res.ok) return;
      state = await res.json();
    } catch {
      return; // the next poll tries again
    }
    const { active, cleared, now } = state;
    const count = $('#alert-count');
    count.textContent = String(active.length);
    count.classList.toggle('raised', active.length > 0);
    const list = $('#alert-list');
    list.replaceChildren(...active.map((a) => item(a, now)));
    if (active.length === 0) {
      const ok = document.createElement('li');
      ok.className = 'alert-none';
      ok.textContent = 'No alert raised.';
      list.append(ok);
    }
    $('#alert-cleared').replaceChildren(...cleared.map((a) => item(a, now)));
    $('#alert-cleared-box').hidden = cleared.length === 0;
  }
  void refresh();
  setInterval(() => void refresh(), 1000);
})();
