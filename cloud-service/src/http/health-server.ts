// The replica's small HTTP surface for Kubernetes and Prometheus: /livez, /readyz and /metrics.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { ServiceHealth } from '../service/tail-service.js';

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the health app reads. */
export interface HealthAppDeps {
  health(): ServiceHealth;
  /** Renders the Prometheus exposition; /metrics answers 404 without it. */
  metrics?: () => Promise<string>;
}

/** Builds the hono app: 200 or 503 with a JSON body listing reasons, and the metrics text. */
export function createHealthApp(deps: HealthAppDeps): Hono {
  const app = new Hono();
  app.get('/livez', (c) => {
    const { live, reasons } = deps.health();
    return c.json({ status: live ? 'ok' : 'failing', reasons }, live ? 200 : 503);
  });
  app.get('/readyz', (c) => {
    const { ready, reasons } = deps.health();
    return c.json({ status: ready ? 'ready' : 'not ready', reasons }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    if (deps.metrics === undefined) return c.text('metrics are not enabled\n', 404);
    return c.body(await deps.metrics(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
  });
  app.notFound((c) => c.text('not found: try /livez, /readyz or /metrics\n', 404));
  return app;
}

/** A listening health server. */
export interface HealthServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0 picks a free one). */
export function startHealthServer(app: Hono, options: { host: string; port: number }): Promise<HealthServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, (info: AddressInfo) => {
      server.off('error', reject);
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      const close = () =>
        new Promise<void>((done) => {
          server.close(() => done());
          if ('closeAllConnections' in server) server.closeAllConnections();
        });
      resolve({ url: `http://${host}:${info.port}`, port: info.port, close, [Symbol.asyncDispose]: close });
    });
    server.once('error', reject);
  });
}
