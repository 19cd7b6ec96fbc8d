// The reply-snooping attack of issue 14, as a measurement: an attacker connection subscribes to everything it is
// allowed to while another agent sends tail requests answered by a cloud user and writes heartbeats that the
// console reads, and the probe counts how many of those secrets reached the attacker. Used against the committed
// accounts.conf, against JWT mode, and as a control on an open server (where the same probe must see them all).
import { Kvm } from '@nats-io/kv';
import { type NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import { waitFor } from './edge-fixtures.js';

/** The connections taking part: agents `attacker` and `victim`, a `cloud` responder and the `console`. */
export interface SnoopingParties {
  readonly attacker: NatsConnection;
  readonly victim: NatsConnection;
  readonly victimId: string;
  readonly cloud: NatsConnection;
  readonly console: NatsConnection;
}

/** What the probe saw. */
export interface SnoopingFigures {
  readonly requests: number;
  readonly replies: number;
  readonly repliesSnooped: number;
  readonly heartbeats: number;
  /**
   * KV heartbeat updates the console's watch received (an ordered consumer that resets under load may skip
   * some, never the last), and live heartbeats its subscription received.
   */
  readonly heartbeatsAtConsole: number;
  readonly lastHeartbeatAtConsole: boolean;
  readonly liveHeartbeatsAtConsole: number;
  readonly heartbeatsSnooped: number;
  /** Everything the attacker's subscriptions received, secret or not. */
  readonly attackerMessages: number;
}

const decoder = new TextDecoder();

/**
 * Runs `count` tail requests and `count` heartbeats (KV entry and live subject) of the victim while the attacker
 * listens on `attackerSubjects`. The heartbeat bucket must exist.
 */
export async function measureSnooping(
  parties: SnoopingParties,
  attackerSubjects: readonly string[],
  count: number,
): Promise<SnoopingFigures> {
  const { attacker, victim, victimId, cloud, console: operator } = parties;
  let attackerMessages = 0;
  let repliesSnooped = 0;
  let heartbeatsSnooped = 0;
  for (const subject of attackerSubjects) {
    attacker.subscribe(subject, {
      callback: (_err, msg) => {
        attackerMessages++;
        const text = decoder.decode(msg.data);
        if (text.includes('tail-secret-')) repliesSnooped++;
        if (text.includes('heartbeat-secret-')) heartbeatsSnooped++;
      },
    });
  }
  const tails = cloud.subscribe('cleave.tail.>', {
    queue: 'cleave-tail',
    callback: (err, msg) => {
      if (err !== null) return; // a refused subscription: the requests then time out and the probe fails
      msg.respond(new TextEncoder().encode(`tail-secret-reply-to-${msg.string()}`));
    },
  });
  let liveHeartbeatsAtConsole = 0;
  const live = operator.subscribe('cleave.heartbeat.*', {
    callback: () => {
      liveHeartbeatsAtConsole++;
    },
  });
  await Promise.all([attacker.flush(), cloud.flush(), operator.flush()]);

  const seenByConsole = await (await new Kvm(operator).open('cleave_heartbeats')).watch({ key: victimId });
  let heartbeatsAtConsole = 0;
  let lastHeartbeatAtConsole = false;
  const watching = (async () => {
    for await (const entry of seenByConsole) {
      if (entry.string().startsWith('heartbeat-secret-')) heartbeatsAtConsole++;
      if (entry.string() === `heartbeat-secret-${count - 1}`) lastHeartbeatAtConsole = true;
    }
  })();

  let replies = 0;
  const heartbeats = await new Kvm(victim).open('cleave_heartbeats');
  for (let i = 0; i < count; i++) {
    const reply = await victim.request(`cleave.tail.fmnist.v1.split-01`, new TextEncoder().encode(`tensor-${i}`), {
      timeout: 5_000,
    });
    if (reply.string() === `tail-secret-reply-to-tensor-${i}`) replies++;
    await heartbeats.put(victimId, new TextEncoder().encode(`heartbeat-secret-${i}`));
    victim.publish(`cleave.heartbeat.${victimId}`, new TextEncoder().encode(`heartbeat-secret-live-${i}`));
  }
  await victim.flush();
  await waitFor(() => lastHeartbeatAtConsole && liveHeartbeatsAtConsole >= count, `${count} heartbeats at the console`);
  // Anything still in flight to the attacker has arrived once a round trip on its own connection has.
  await attacker.flush();
  seenByConsole.stop();
  await watching;
  tails.unsubscribe();
  live.unsubscribe();
  return {
    requests: count,
    replies,
    repliesSnooped,
    heartbeats: count,
    heartbeatsAtConsole,
    lastHeartbeatAtConsole,
    liveHeartbeatsAtConsole,
    heartbeatsSnooped,
    attackerMessages,
  };
}

/** Subscribes to each subject and returns those the server refused with a permissions violation. */
export async function refusedSubscriptions(nc: NatsConnection, subjects: readonly string[]): Promise<string[]> {
  const refused: string[] = [];
  for (const subject of subjects) {
    const sub = nc.subscribe(subject);
    const outcome = await Promise.race([sub.closed, nc.flush().then(() => new Promise((r) => setTimeout(r, 300)))]);
    if (outcome instanceof PermissionViolationError && outcome.subject === subject) refused.push(subject);
    else sub.unsubscribe();
  }
  return refused;
}
