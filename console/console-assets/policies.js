// Policies: the form loads the stored document of the chosen scope (the fleet or one agent), shows what the
// agent runs now and what it inherits, saves a new document (every field error listed) or clears it, so the
// agents follow the next level down. A split can be pinned from the candidates of the current versions.
(() => {
  'use strict';
  const { $, api, fieldErrors } = window.CleavePage;
  const FIELDS = ['objective', 'deadlineMs', 'budgetPoints', 'floorAccuracy', 'codec', 'split'];
  const NUMERIC = new Set(['deadlineMs', 'budgetPoints', 'floorAccuracy']);
  const form = $('#policy-form');
  let stored = { fleet: undefined, agents: {} };

  const scopeValue = () => $('#policy-scope').value;
  const agentOf = (scope) => (scope === 'fleet' ? undefined : scope.slice('agent:'.length));
  const pathOf = (scope) => (scope === 'fleet' ? '/policies/fleet' : `/policies/agents/${agentOf(scope)}`);

  /** Fills the form with the scope's stored document; an agent's fields show the fleet's values as placeholders. */
  function fillForm() {
    const agent = agentOf(scopeValue());
    const own = (agent === undefined ? stored.fleet : stored.agents[agent]) || {};
    const inherited = agent === undefined ? {} : stored.fleet || {};
    for (const name of FIELDS) {
      const input = form.elements.namedItem(name);
      const value = own[name];
      input.value = value === undefined || value === null ? '' : String(value);
      if (input.tagName === 'INPUT') {
        const from = inherited[name];
        input.placeholder = from === undefined || from === null ? (name === 'split' ? '(plan)' : '') : `fleet: ${from}`;
      }
    }
    $('#policy-clear').disabled = Object.keys(own).length === 0;
    $('#policy-effective').textContent = agent === undefined ? '' : effectiveLine(agent);
  }

  /** What the agent runs now, from its latest heartbeat (its own configuration is known only to it). */
  function effectiveLine(agent) {
    const row = document.querySelector(`#fleet-table tbody tr[data-agent="${CSS.escape(agent)}"]`);
    if (!row) return `${agent} has sent no heartbeat yet.`;
    const cells = [...row.children].map((td) => td.textContent);
    return `${agent} runs now: ${cells[1]}, split ${cells[2]}, codec ${cells[3]}, exit rate ${cells[7]}.`;
  }

  async function load() {
    stored = await api('/policies');
    $('#policy-current').textContent = JSON.stringify(stored, null, 2);
    fillForm();
  }

  /** Candidate ids of every model's current version, for the split field's suggestions. */
  async function loadSplits() {
    const { models } = await api('/bundles');
    const ids = new Set();
    for (const m of models) {
      if (!m.current) continue;
      const manifest = await api(`/bundles/${m.model}/${m.current}`);
      for (const c of manifest.candidates) ids.add(c.id);
    }
    $('#policy-splits').replaceChildren(...[...ids].sort().map((id) => new Option(id, id)));
  }

  /** Reloads the stored documents, then shows `result`: once it is shown, the form matches what is stored. */
  async function showAfterReload(result) {
    try {
      await load();
    } finally {
      $('#policy-result').textContent = result;
      document.dispatchEvent(new CustomEvent('cleave:audit-changed'));
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const [k, v] of new FormData(form).entries()) {
      if (v === '') continue;
      body[k] = NUMERIC.has(k) ? Number(v) : v;
    }
    let result;
    try {
      await api(pathOf(scopeValue()), { method: 'PUT', body: JSON.stringify(body) });
      result = 'Saved.';
    } catch (err) {
      result = `Not saved: ${[err.message, ...fieldErrors(err)].join('; ')}`;
    }
    await showAfterReload(result);
  });

  $('#policy-clear').addEventListener('click', async () => {
    const scope = scopeValue();
    let result;
    try {
      await api(pathOf(scope), { method: 'DELETE' });
      result =
        scope === 'fleet'
          ? 'Cleared: agents follow their own policy or configuration.'
          : 'Cleared: the agent follows the fleet policy.';
    } catch (err) {
      result = `Not cleared: ${err.message}`;
    }
    await showAfterReload(result);
  });

  $('#policy-scope').addEventListener('change', fillForm);
  document.addEventListener('cleave:current-changed', () => void loadSplits());
  void load();
  void loadSplits();
})();
