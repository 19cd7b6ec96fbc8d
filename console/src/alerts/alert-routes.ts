// Alerts over HTTP: `/api/alerts` for the page, `/metrics` for Prometheus (behind the same auth as the API:
// scrape with `authorization: { credentials: <token> }`, see deploy/prometheus/prometheus.example.yml).
import { Hono } from 'hono';
import type { ConsoleEnv } from '../console-api.js';
import { PROMETHEUS_CONTENT_TYPE } from './alert-metrics.js';
import type { AlertMonitor } from './alert-monitor.js';

/** `GET /alerts`: raised and recently cleared alerts, with the time they were evaluated. */
export function createAlertRoutes(monitor: AlertMonitor): Hono<ConsoleEnv> {
  const routes = new Hono<ConsoleEnv>();
  routes.get('/alerts', (c) => c.json({ ...monitor.state(), now: Date.now() }));
  return routes;
}

/** `GET /metrics`: the alerts as Prometheus gauges. */
export function createMetricsRoute(monitor: AlertMonitor): Hono<ConsoleEnv> {
  const routes = new Hono<ConsoleEnv>();
  routes.get('/metrics', (c) => c.body(monitor.metrics(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE }));
  return routes;
}
