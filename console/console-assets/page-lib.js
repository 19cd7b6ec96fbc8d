// Helpers every console script shares (loaded first): the JSON API with the CSRF header, element building and
// number formats. Plain browser JS; the page's other scripts read them from window.CleavePage.
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="cleave-csrf"]').content;
  const $ = (sel) => document.querySelector(sel);

  /** Calls `/api<path>`; a non-2xx answer throws an Error with its message, `status` and parsed `body`. */
  async function api(path, options = {}) {
    const res = await fetch(`/api${path}`, {
      ...options,
      headers: { 'content-type': 'application/json', 'x-cleave-csrf': csrf, ...(options.headers || {}) },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.error || res.statusText), { body, status: res.status });
    return body;
  }

  /** An element with properties and children; text goes in as text, never as markup. */
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children);
    return node;
  };
  const text = (v) => (v === undefined || v === null ? '–' : String(v));
  const fmt = (n, d = 1) => (typeof n === 'number' && Number.isFinite(n) ? n.toFixed(d) : '–');
  const bytes = (n) =>
    typeof n !== 'number'
      ? '–'
      : n >= 1e6
        ? `${(n / 1e6).toFixed(2)} MB`
        : n >= 1e3
          ? `${(n / 1e3).toFixed(1)} kB`
          : `${n} B`;
  const pct = (x) => (typeof x === 'number' ? `${(x * 100).toFixed(1)}%` : '–');
  /** Field errors of a refused write, as one line: `field: problem; …`. */
  const fieldErrors = (err) =>
    err.body && err.body.fieldErrors
      ? Object.entries(err.body.fieldErrors).map(([k, v]) => `${k}: ${v.join(', ')}`)
      : [];

  window.CleavePage = Object.freeze({ csrf, $, api, el, text, fmt, bytes, pct, fieldErrors });
})();
