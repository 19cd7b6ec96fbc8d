import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

/** A listening HTTP server. */
export interface HttpServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:8470`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening; open connections are closed. */
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0 picks a free one). */
export function startHttpServer(app: Hono, options: { host: string; port: number }): Promise<HttpServer> {
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
