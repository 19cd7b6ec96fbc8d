// A tail client that retries the way an edge agent does (on no responders, a timeout, `overloaded` or
// `unavailable`), and that counts every reply message it receives per attempt, late ones included, so a suite can
// prove that no request was lost and none was answered twice.
import { createInbox, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { decodeMessage, type Message } from '@cleave/proto';

/** Why an attempt did not produce an answer worth keeping. */
export type RetryReason = 'no_responders' | 'timeout' | 'overloaded' | 'unavailable';

/** The outcome of one logical request. */
export interface RetriedResult {
  readonly id: string;
  readonly reply: Message;
  readonly attempts: number;
  readonly retries: readonly RetryReason[];
  readonly receivedAt: number;
}

/** A client bound to one connection; `close()` ends its inbox subscription. */
export interface RetryingTailClient {
  request(
    subject: string,
    id: string,
    payload: Uint8Array,
    options?: { timeoutMs?: number; maxAttempts?: number; traceparent?: string },
  ): Promise<RetriedResult>;
  /** Reply messages received per attempt key (`id.attempt`), including any that arrived after a retry. */
  readonly repliesPerAttempt: ReadonlyMap<string, number>;
  close(): void;
}

/** Creates a {@link RetryingTailClient} on `nc`. */
export function createRetryingTailClient(nc: NatsConnection): RetryingTailClient {
  const inbox = createInbox();
  const repliesPerAttempt = new Map<string, number>();
  const waiting = new Map<string, (outcome: Message | 'no_responders') => void>();
  const sub = nc.subscribe(`${inbox}.>`, {
    callback: (_err, msg) => {
      const key = msg.subject.slice(inbox.length + 1);
      repliesPerAttempt.set(key, (repliesPerAttempt.get(key) ?? 0) + 1);
      const outcome = msg.headers?.code === 503 && msg.data.length === 0 ? 'no_responders' : decodeMessage(msg.data);
      waiting.get(key)?.(outcome);
      waiting.delete(key);
    },
  });

  async function request(
    subject: string,
    id: string,
    payload: Uint8Array,
    options: { timeoutMs?: number; maxAttempts?: number; traceparent?: string } = {},
  ): Promise<RetriedResult> {
    const retries: RetryReason[] = [];
    const maxAttempts = options.maxAttempts ?? 20;
    for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
      const key = `${id}.${attempt}`;
      const outcome = await new Promise<Message | 'no_responders' | 'timeout'>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(key);
          resolve('timeout');
        }, options.timeoutMs ?? 10_000);
        waiting.set(key, (value) => {
          clearTimeout(timer);
          resolve(value);
        });
        const h = natsHeaders();
        if (options.traceparent !== undefined) h.set('traceparent', options.traceparent);
        nc.publish(subject, payload, { reply: `${inbox}.${key}`, headers: h });
      });
      const reason: RetryReason | undefined =
        outcome === 'no_responders' || outcome === 'timeout'
          ? outcome
          : outcome.kind === 'error' && (outcome.code === 'overloaded' || outcome.code === 'unavailable')
            ? outcome.code
            : undefined;
      if (reason === undefined) {
        return { id, reply: outcome as Message, attempts: attempt, retries, receivedAt: Date.now() };
      }
      retries.push(reason);
      await new Promise((resolve) => setTimeout(resolve, Math.min(200, 10 * attempt)));
    }
    throw new Error(`request ${id} failed after ${maxAttempts} attempts: ${retries.join(', ')}`);
  }

  return { request, repliesPerAttempt, close: () => sub.unsubscribe() };
}
