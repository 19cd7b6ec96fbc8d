// `cleave nats` listens where every other command looks by default (nats://127.0.0.1:4222), so a first session
// needs no --nats-url anywhere. When that port is taken it still starts, on a free port it prints.
import { createServer } from 'node:net';

/** The port NATS clients use when none is named: every command's default --nats-url points here. */
export const DEFAULT_NATS_PORT = 4222;

/** True when a TCP listener could bind `host:port` just now (it is released again before this returns). */
function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Which client port `cleave nats` asks nats-server for, and why. */
export interface NatsPortChoice {
  /** A port, or -1 for one nats-server picks. */
  readonly port: number;
  /** Set when the default port was wanted but busy, for the log line that says so. */
  readonly defaultPortBusy: boolean;
}

/**
 * The port for `cleave nats --port <requested>`: an explicit port as given (0 and -1 both mean "any free one"),
 * and without --port the default 4222 when free, else any free one.
 */
export async function chooseNatsPort(host: string, requested: number | undefined): Promise<NatsPortChoice> {
  if (requested !== undefined) return { port: requested <= 0 ? -1 : requested, defaultPortBusy: false };
  if (await isPortFree(host, DEFAULT_NATS_PORT)) return { port: DEFAULT_NATS_PORT, defaultPortBusy: false };
  return { port: -1, defaultPortBusy: true };
}
