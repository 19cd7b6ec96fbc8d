import { describe, expect, it } from 'vitest';
import { createHealthApp, PROMETHEUS_CONTENT_TYPE, type ProbeHealth } from '../src/http/http-server.js';

function appWith(health: ProbeHealth, metrics?: () => Promise<string>) {
  return createHealthApp({ health: () => health, ...(metrics === undefined ? {} : { metrics }) });
}

describe('health app', () => {
  it('answers 200 on /livez and /readyz when live and ready', async () => {
    const app = appWith({ live: true, ready: true, reasons: [] });
    const live = await app.request('/livez');
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok', reasons: [] });
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('answers 503 with the reasons on /readyz while draining, yet stays live', async () => {
    const app = appWith({ live: true, ready: false, reasons: ['draining'] });
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', reasons: ['draining'] });
    expect((await app.request('/livez')).status).toBe(200);
  });

  it('serves the Prometheus text, or 404 when metrics are off', async () => {
    const app = appWith({ live: true, ready: true, reasons: [] }, () =>
      Promise.resolve('cleave_tail_requests_total 3\n'),
    );
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(await res.text()).toBe('cleave_tail_requests_total 3\n');
    expect((await appWith({ live: true, ready: true, reasons: [] }).request('/metrics')).status).toBe(404);
    expect((await app.request('/nope')).status).toBe(404);
  });
});
