// The first connection of a daemon that must start while NATS is down (an edge gateway boots before its uplink).
// nats.js's own `waitOnFirstConnect` retries silently, so an agent pointed at a wrong URL looked healthy and quiet;
// this loop tries, reports each failed attempt, waits, and tries again, and gives up only on what retrying
// cannot fix (refused or expired credentials). Once connected, nats.js's reconnect handling takes over.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AuthorizationError,
  connect,
  InvalidArgumentError,
  type NatsConnection,
  type NodeConnectionOptions,
  UserAuthenticationExpiredError,
} from '@nats-io/transport-node';

/** One failed attempt of {@link connectWithRetry}, for the log line that reports it. */
export interface ConnectRetry {
  /** 1 for the first failure. */
  readonly attempt: number;
  /** The servers tried, as configured. */
  readonly servers: readonly string[];
  /** Why the attempt failed, as nats.js says it (`connection refused`, …). */
  readonly reason: string;
  /** How long until the next attempt. */
  readonly retryInMs: number;
}

/** Options of {@link connectWithRetry}. */
export interface ConnectWithRetryOptions {
  /** Told about every failed attempt before the wait. */
  readonly onRetry: (retry: ConnectRetry) => void;
  /** Wait between attempts. @default options.reconnectTimeWait, else 2000 */
  readonly retryWaitMs?: number;
}

/** True for failures that another attempt cannot fix: refused credentials, or options nats.js rejects. */
function isPermanent(error: unknown): boolean {
  return (
    error instanceof AuthorizationError ||
    error instanceof UserAuthenticationExpiredError ||
    error instanceof InvalidArgumentError
  );
}

/**
 * Connects with `options`, retrying until the first connection succeeds. Each failure is reported through
 * `onRetry`; authorization failures are thrown at once.
 */
export async function connectWithRetry(
  options: NodeConnectionOptions,
  retry: ConnectWithRetryOptions,
): Promise<NatsConnection> {
  const servers = Array.isArray(options.servers) ? options.servers : [options.servers ?? '127.0.0.1:4222'];
  const retryInMs = retry.retryWaitMs ?? options.reconnectTimeWait ?? 2000;
  // Each attempt tries every server once; the loop here is what waits and repeats.
  const attemptOptions: NodeConnectionOptions = { ...options, waitOnFirstConnect: false };
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect(attemptOptions);
    } catch (error) {
      if (isPermanent(error)) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      retry.onRetry({ attempt, servers, reason, retryInMs });
      await sleep(retryInMs);
    }
  }
}
