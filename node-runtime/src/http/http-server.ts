// The HTTP surface every Cleave daemon has for Kubernetes, systemd watchdogs and Prometheus (/livez, /readyz and
// /metrics), and the one listener both daemons use (port 0, IPv6 URLs, closing open connections on stop).
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A daemon's health as the probes report it: live (restart me if not), ready (send me work), and why not. */
export interface ProbeHealth {
  readonly live: boolean;
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** What the health app reads. */
export interface HealthAppDeps {
  health(): ProbeHealth;
  /** Renders the Prometheus exposition; /metrics answers 404 without it. */
  metrics?: () => Promise<string>;
}

/** Builds the hono app: 200 or 503 with a JSON body listing reasons, and the metrics text. */
export function createHealthApp(deps: HealthAppDeps): Hono {
  return addProbeRoutes(new Hono(), deps).notFound((c) => c.text('not found: try /livez, /readyz or /metrics\n', 404));
}

/** Adds /livez, /readyz and /metrics to `app` (a daemon's own API, or the bare health app). */
export function addProbeRoutes(app: Hono, deps: HealthAppDeps): Hono {
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
  return app;
}

/** A listening HTTP server. */
export interface HttpServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What a server needs of an app: Hono's `fetch`, whatever the app's environment type. */
export interface FetchHandler {
  readonly fetch: (request: Request, ...rest: never[]) => Response | Promise<Response>;
}

/** Listens on `host:port` (port 0 picks a free one). */
export function startHttpServer(app: FetchHandler, options: { host: string; port: number }): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: app.fetch as Parameters<typeof serve>[0]['fetch'], hostname: options.host, port: options.port },
      (info: AddressInfo) => {
        server.off('error', reject);
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        const close = () =>
          new Promise<void>((done) => {
            server.close(() => done());
            if ('closeAllConnections' in server) server.closeAllConnections();
          });
        resolve({ url: `http://${host}:${info.port}`, port: info.port, close, [Symbol.asyncDispose]: close });
      },
    );
    server.once('error', reject);
  });
}
