// Every few seconds the agent writes its state to KV (`{prefix}_heartbeats`, key = agent id) for the console, and
// publishes the same message on `{prefix}.heartbeat.{agentId}` for anyone listening live.
//
// The live publish is the liveness signal and never waits: a KV write needs a JetStream acknowledgement, which a
// busy server or a congested link can hold back for seconds (up to the 5 s request timeout). While a write is in
// flight, later heartbeats are still published live, and only the newest of them is written to KV next: the
// bucket keeps one value per agent, so an older one would be overwritten at once anyway.
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { openHeartbeatKv } from '@cleave/node-runtime';
import { encodeMessage, type Heartbeat, heartbeatSubject } from '@cleave/proto';

/** What {@link createHeartbeatPublisher} needs. */
export interface HeartbeatPublisherDeps {
  readonly prefix: string;
  readonly agentId: string;
  readonly intervalMs: number;
  readonly nats: () => NatsConnection | undefined;
  /** Builds the heartbeat of the interval that just ended. */
  readonly build: () => Heartbeat;
  readonly onError: (message: string) => void;
  /** A KV write took longer than the interval (the live heartbeats went on meanwhile). */
  readonly onSlowWrite?: (ms: number) => void;
  /** Opens the heartbeat bucket (tests). @default openHeartbeatKv */
  readonly openKv?: (nc: NatsConnection, prefix: string) => Promise<Pick<KV, 'put'>>;
  /** Milliseconds, monotonic (tests). */
  readonly now?: () => number;
}

/** The running publisher. */
export interface HeartbeatPublisher extends AsyncDisposable {
  start(): void;
  /** Publishes one heartbeat now and waits until KV holds it (also used for a last one on shutdown). */
  beat(): Promise<void>;
  close(): Promise<void>;
}

/** Creates a stopped publisher. */
export function createHeartbeatPublisher(deps: HeartbeatPublisherDeps): HeartbeatPublisher {
  const openKv = deps.openKv ?? openHeartbeatKv;
  const now = deps.now ?? (() => performance.now());
  let timer: NodeJS.Timeout | undefined;
  let kv: Pick<KV, 'put'> | undefined;
  let kvFor: NatsConnection | undefined;
  // The newest heartbeat not yet written to KV, with the callers waiting on it or on one it superseded; and the
  // write loop while one runs.
  let waiting: { nc: NatsConnection; bytes: Uint8Array; done: (() => void)[] } | undefined;
  let writing: Promise<void> | undefined;

  async function bucket(nc: NatsConnection): Promise<Pick<KV, 'put'>> {
    if (kv !== undefined && kvFor === nc) return kv;
    // Created with rollup headers off when missing; see openHeartbeatKv.
    kv = await openKv(nc, deps.prefix);
    kvFor = nc;
    return kv;
  }

  async function writeWaiting(): Promise<void> {
    while (waiting !== undefined) {
      const { nc, bytes, done } = waiting;
      waiting = undefined;
      const started = now();
      try {
        if (!nc.isClosed()) await (await bucket(nc)).put(deps.agentId, bytes);
      } catch (error) {
        kv = undefined;
        deps.onError(`heartbeat not written to KV: ${(error as Error).message}`);
      } finally {
        for (const resolve of done) resolve();
      }
      const ms = now() - started;
      if (ms > deps.intervalMs) deps.onSlowWrite?.(ms);
    }
  }

  // A beat queued after the loop's last check but before it settled is picked up by a new loop.
  function startWriting(): void {
    writing ??= writeWaiting().finally(() => {
      writing = undefined;
      if (waiting !== undefined) startWriting();
    });
  }

  /**
   * Publishes live at once; queues the KV write behind any in flight. Resolves once this heartbeat (or a newer
   * one) was written or failed: not when the loop drains, which the interval may keep feeding (a shutdown's last
   * beat waited forever for that while every put timed out).
   */
  function beat(): Promise<void> {
    const nc = deps.nats();
    if (nc === undefined || nc.isClosed()) return Promise.resolve();
    const bytes = encodeMessage(deps.build());
    nc.publish(heartbeatSubject(deps.prefix, deps.agentId), bytes);
    return new Promise<void>((resolve) => {
      const done = [...(waiting?.done ?? []), resolve];
      waiting = { nc, bytes, done };
      startWriting();
    });
  }

  const close = async (): Promise<void> => {
    clearInterval(timer);
    timer = undefined;
    while (writing !== undefined) await writing;
  };
  return {
    start() {
      timer ??= setInterval(() => void beat(), deps.intervalMs);
      timer.unref();
    },
    beat,
    close,
    [Symbol.asyncDispose]: close,
  };
}
