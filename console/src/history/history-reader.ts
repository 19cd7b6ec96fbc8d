// Reads one agent's heartbeats since a time from the heartbeat history (the stream that mirrors the heartbeats
// bucket, one subject per agent: `$KV.<prefix>_heartbeats.<agentId>`). An ordered push consumer filtered to the
// agent's subject and started at the window's start reads exactly that agent's beats, oldest first, into the
// console's own inbox, as @nats-io/kv reads a key's history. Not a pull consumer: under deploy/nats/accounts.conf
// the JetStream API is a service import from STORE, which forwards one reply per request, so a pull of many
// messages would deliver only the first.
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { assertToken, bucketNames, decodeMessage } from '@cleave/proto';
import { HEARTBEAT_HISTORY_LIMITS, heartbeatHistoryStream, isStreamNotFound } from '@cleave/node-runtime';
import type { HistoryBeat } from './heartbeat-series.js';

/**
 * The agent's heartbeats written at or after `sinceMs` (server time), oldest first; malformed ones and KV deletes
 * are skipped. At most one agent's share of the history ({@link HEARTBEAT_HISTORY_LIMITS}.perAgent) is read, and an
 * agent with no history (or no history stream at all) gives an empty list.
 */
export async function readHeartbeatHistory(
  nc: NatsConnection,
  prefix: string,
  agentId: string,
  sinceMs: number,
): Promise<HistoryBeat[]> {
  const subject = `$KV.${bucketNames(prefix).heartbeats}.${assertToken(agentId, 'agentId')}`;
  let consumer;
  try {
    consumer = await jetstream(nc).consumers.getPushConsumer(heartbeatHistoryStream(prefix), {
      filter_subjects: subject, // one subject: a string works on servers before 2.10
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(sinceMs).toISOString(),
    });
  } catch (error) {
    if (isStreamNotFound(error)) return [];
    throw error;
  }
  const beats: HistoryBeat[] = [];
  // Beats that arrive while reading are left for the next refresh: the read ends at what was there at the start.
  let left = Math.min((await consumer.info(true)).num_pending, HEARTBEAT_HISTORY_LIMITS.perAgent);
  if (left === 0) return beats;
  const messages = await consumer.consume();
  // An idle heartbeat from the server means nothing more is coming (as @nats-io/kv's history() reads it).
  void (async () => {
    for await (const status of messages.status()) if (status.type === 'heartbeat') messages.stop();
  })();
  for await (const m of messages) {
    left -= 1;
    try {
      const message = decodeMessage(m.data);
      // The subject is who wrote it (only that agent may); the id in the body is only a claim.
      if (message.kind === 'heartbeat') {
        beats.push({ t: Number(m.timestampNanos / 1_000_000n), heartbeat: { ...message, agentId } });
      }
    } catch {
      // A malformed beat (or a KV delete marker, which has no body) is skipped, as on the fleet page.
    }
    if (left <= 0 || m.info.pending === 0) break;
  }
  // Stopping unsubscribes; the server removes the ephemeral consumer once it has no interest. A delete request
  // is not sent: under deploy/nats/accounts.conf its reply crosses the STORE export like any API reply, but
  // nothing is gained by waiting for it.
  messages.stop();
  return beats;
}
