import { serve, type ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { ConsoleEnv } from './console-api.js';

/** A listening console. */
export interface ConsoleServer extends AsyncDisposable {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the console app; binds to 127.0.0.1 unless told otherwise. Port 0 picks a free port. */
export async function startConsoleServer(
  app: Hono<ConsoleEnv>,
  options: { host?: string; port?: number } = {},
): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  let server: ServerType | undefined;
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 0 }, (info) => resolve(info.port));
  });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      // Live event streams would keep the server open forever; end them.
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server!.close(() => resolve());
    });
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, close, [Symbol.asyncDispose]: close };
}
