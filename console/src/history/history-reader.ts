// Reads one agent's heartbeats since a time from the heartbeat history (the stream that mirrors the heartbeats
// bucket, one subject per agent: `$KV.<prefix>_heartbeats.<agentId>`). An ordered pull consumer filtered to the
// agent's subject and started at the window's start reads exactly that agent's beats, oldest first, and is deleted
// after; it needs only the consumer grants deploy/nats/accounts.conf gives the console.
import { DeliverPolicy, jetstream, type Consumer } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { assertToken, bucketNames, decodeMessage } from '@cleave/proto';
import { HEARTBEAT_HISTORY_LIMITS, heartbeatHistoryStream, isStreamNotFound } from '@cleave/node-runtime';
import type { HistoryBeat } from './heartbeat-series.js';

/** Messages pulled per request: large enough that a day of beats is a few dozen round trips. */
const BATCH = 1000;

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
  let consumer: Consumer;
  try {
    consumer = await jetstream(nc).consumers.get(heartbeatHistoryStream(prefix), {
      filter_subjects: subject, // one subject: a string works on servers before 2.10
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(sinceMs).toISOString(),
    });
  } catch (error) {
    if (isStreamNotFound(error)) return [];
    throw error;
  }
  const beats: HistoryBeat[] = [];
  try {
    // Beats that arrive while reading are left for the next refresh: the read ends at what was there at the start.
    let left = Math.min((await consumer.info(true)).num_pending, HEARTBEAT_HISTORY_LIMITS.perAgent);
    while (left > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(left, BATCH), expires: 5000 });
      let got = 0;
      for await (const m of batch) {
        got += 1;
        left -= 1;
        try {
          const message = decodeMessage(m.data);
          if (message.kind !== 'heartbeat') continue;
          // The subject is who wrote it (only that agent may); the id in the body is only a claim.
          beats.push({ t: Number(m.timestampNanos / 1_000_000n), heartbeat: { ...message, agentId } });
        } catch {
          // A malformed beat (or a KV delete marker, which has no body) is skipped, as on the fleet page.
        }
        if (m.info.pending === 0) left = 0;
        if (left <= 0) break;
      }
      if (got === 0) break; // the server had nothing more within `expires`
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return beats;
}
