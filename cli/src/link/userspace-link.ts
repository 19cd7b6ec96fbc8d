// The userspace link: a TCP proxy between an agent and NATS that shapes rate, adds delay and can be cut.
// It needs no privileges; the kernel link (kernel-link.ts) uses it too, for delay only, since netem is missing.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { LinkShape } from './link-types.js';

export type { LinkShape } from './link-types.js';

/** Where the proxy listens. */
export interface LinkEmulatorOptions {
  /** Interface to listen on (the host end of a veth for the kernel link). @default '127.0.0.1' */
  readonly listenHost?: string;
}

/** A running userspace link between a client (an edge agent) and a TCP server (NATS). */
export interface LinkEmulator extends AsyncDisposable {
  /** Where clients connect instead of the real server, e.g. `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** Changes rate and/or delay for data sent from now on. */
  shape(change: Partial<LinkShape>): void;
  /** Cuts the link: open connections are destroyed and new ones refused until `restore()`. */
  cut(): void;
  restore(): void;
  /** Bytes forwarded so far, per direction. */
  readonly stats: { upBytes: number; downBytes: number; connections: number };
  close(): Promise<void>;
}

/**
 * One direction of a link: a FIFO that releases each chunk no earlier than `delayMs` after it
 * arrived and no faster than `rateMbps` allows (serialisation delay), like a token-bucket shaper.
 */
class ShapedPipe {
  private busyUntil = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly shape: LinkShape,
    private readonly out: Socket,
    private readonly count: (n: number) => void,
  ) {}

  push(chunk: Buffer): void {
    const now = performance.now();
    const serialiseMs = Number.isFinite(this.shape.rateMbps) ? (chunk.length * 8) / (this.shape.rateMbps * 1000) : 0;
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + serialiseMs;
    const releaseAt = this.busyUntil + this.shape.delayMs;
    const wait = releaseAt - now;
    if (wait <= 0.05) {
      this.write(chunk);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.write(chunk);
    }, wait);
    this.timers.add(timer);
  }

  private write(chunk: Buffer): void {
    if (this.out.destroyed) return;
    this.count(chunk.length);
    this.out.write(chunk);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * Starts a TCP proxy on 127.0.0.1 (or `options.listenHost`) that forwards to `target` through shaped pipes. Rate, delay
 * and cuts change at runtime, which is what the adaptation tests need. Used when network
 * namespaces with `tc` are not available (non-root), and for deterministic delay, which
 * `tc tbf` cannot add without netem.
 */
export async function startLinkEmulator(
  target: { host: string; port: number },
  initial: Partial<LinkShape> = {},
  options: LinkEmulatorOptions = {},
): Promise<LinkEmulator> {
  const listenHost = options.listenHost ?? '127.0.0.1';
  const shape: LinkShape = { rateMbps: initial.rateMbps ?? Infinity, delayMs: initial.delayMs ?? 0 };
  const stats = { upBytes: 0, downBytes: 0, connections: 0 };
  const live = new Set<{ client: Socket; upstream: Socket; pipes: ShapedPipe[] }>();
  let isCut = false;

  const server: Server = createServer((client) => {
    if (isCut) {
      client.destroy();
      return;
    }
    stats.connections++;
    client.setNoDelay(true);
    const upstream = connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    const up = new ShapedPipe(shape, upstream, (n) => (stats.upBytes += n));
    const down = new ShapedPipe(shape, client, (n) => (stats.downBytes += n));
    const entry = { client, upstream, pipes: [up, down] };
    live.add(entry);
    client.on('data', (d: Buffer) => up.push(d));
    upstream.on('data', (d: Buffer) => down.push(d));
    const teardown = (): void => {
      if (!live.delete(entry)) return;
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('close', teardown);
    upstream.on('close', teardown);
    client.on('error', teardown);
    upstream.on('error', teardown);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const destroyAll = (): void => {
    for (const e of [...live]) {
      e.pipes.forEach((p) => p.stop());
      e.client.destroy();
      e.upstream.destroy();
      live.delete(e);
    }
  };
  const close = async (): Promise<void> => {
    destroyAll();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `nats://${listenHost}:${port}`,
    port,
    shape(change) {
      if (change.rateMbps !== undefined) shape.rateMbps = change.rateMbps;
      if (change.delayMs !== undefined) shape.delayMs = change.delayMs;
    },
    cut() {
      isCut = true;
      destroyAll();
    },
    restore() {
      isCut = false;
    },
    stats,
    close,
    [Symbol.asyncDispose]: close,
  };
}
