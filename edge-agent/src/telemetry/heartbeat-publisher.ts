// Every few seconds the agent writes its state to KV (`{prefix}_heartbeats`, key = agent id) for the console, and
// publishes the same message on `{prefix}.heartbeat.{agentId}` for anyone listening live.
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
}

/** The running publisher. */
export interface HeartbeatPublisher extends AsyncDisposable {
  start(): void;
  /** Publishes one heartbeat now (also used for a last one on shutdown). */
  beat(): Promise<void>;
  close(): Promise<void>;
}

/** Creates a stopped publisher. */
export function createHeartbeatPublisher(deps: HeartbeatPublisherDeps): HeartbeatPublisher {
  let timer: NodeJS.Timeout | undefined;
  let kv: KV | undefined;
  let kvFor: NatsConnection | undefined;
  let beating: Promise<void> | undefined;

  async function bucket(nc: NatsConnection): Promise<KV> {
    if (kv !== undefined && kvFor === nc) return kv;
    // Created with rollup headers off when missing; see openHeartbeatKv.
    kv = await openHeartbeatKv(nc, deps.prefix);
    kvFor = nc;
    return kv;
  }

  async function beat(): Promise<void> {
    const nc = deps.nats();
    if (nc === undefined || nc.isClosed()) return;
    const bytes = encodeMessage(deps.build());
    nc.publish(heartbeatSubject(deps.prefix, deps.agentId), bytes);
    try {
      await (await bucket(nc)).put(deps.agentId, bytes);
    } catch (error) {
      kv = undefined;
      deps.onError(`heartbeat not written to KV: ${(error as Error).message}`);
    }
  }

  function beatOnce(): Promise<void> {
    beating ??= beat().finally(() => (beating = undefined));
    return beating;
  }

  const close = async (): Promise<void> => {
    clearInterval(timer);
    await beating;
  };
  return {
    start() {
      timer ??= setInterval(() => void beatOnce(), deps.intervalMs);
      timer.unref();
    },
    beat: beatOnce,
    close,
    [Symbol.asyncDispose]: close,
  };
}
