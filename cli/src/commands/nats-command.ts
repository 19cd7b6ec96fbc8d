import type { Command } from 'commander';
import { startEmbeddedNats } from '../embedded-nats.js';
import { chooseNatsPort, DEFAULT_NATS_PORT } from '../default-nats-port.js';
import type { CliContext } from '../cli-context.js';

/** Options of `cleave nats`, as parsed by commander. */
interface NatsCommandOptions {
  port?: number;
  host: string;
  storeDir?: string;
  maxPayload: number;
  serverLog: boolean;
}

/** Registers `cleave nats`: run an embedded nats-server in the foreground until SIGINT/SIGTERM. */
export function registerNatsCommand(program: Command, ctx: CliContext): void {
  program
    .command('nats')
    .description('Run a local nats-server (JetStream on, 8 MiB max_payload) in the foreground until Ctrl-C or SIGTERM.')
    .option(
      '--port <port>',
      `client port; 0 or -1 picks a free one (default: ${DEFAULT_NATS_PORT}, the other commands' default, when free; else a free one, printed)`,
      ctx.parseInteger('port', -1, 65535),
    )
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--store-dir <dir>', 'JetStream storage directory (default: a temp dir removed on exit)')
    .option(
      '--max-payload <bytes>',
      'largest message in bytes',
      ctx.parseInteger('max-payload', 1024, 64 * 1024 * 1024),
      8 * 1024 * 1024,
    )
    .option('--server-log', "pass the server's own log through to stderr", false)
    .action(async (opts: NatsCommandOptions) => {
      const choice = await chooseNatsPort(opts.host, opts.port);
      const server = await startEmbeddedNats({
        binary: ctx.natsServerBin,
        host: opts.host,
        port: choice.port,
        maxPayloadBytes: opts.maxPayload,
        serverLog: opts.serverLog ? 'inherit' : 'ignore',
        ...(opts.storeDir !== undefined ? { storeDir: opts.storeDir } : {}),
      });
      ctx.log.info(
        {
          url: server.url,
          monitorUrl: server.monitorUrl,
          storeDir: server.storeDir,
          maxPayloadBytes: server.maxPayloadBytes,
          pid: server.pid,
        },
        'nats-server ready',
      );
      if (choice.defaultPortBusy) {
        // The other commands default to 4222, so they need to be told where this server is.
        ctx.log.warn(
          { url: server.url, busyPort: DEFAULT_NATS_PORT },
          `port ${DEFAULT_NATS_PORT} is in use, so nats-server listens on ${server.url}: pass --nats-url ${server.url} (or set NATS_URL) to the other commands`,
        );
      }
      const reason = await Promise.race([
        ctx.shutdownSignal,
        server.exited.then((code) => `server exited (${String(code)})`),
      ]);
      ctx.log.info({ reason }, 'stopping nats-server');
      await server.stop();
      if (reason.startsWith('server exited')) throw new Error(`nats-server stopped unexpectedly: ${reason}`);
    });
}
