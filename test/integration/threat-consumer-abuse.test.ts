// Threat (issue 14): an agent allowed to read a bucket creates JetStream push consumers whose deliver subject is a
// subject it may not publish to: another agent's API, the heartbeat subjects, the bundle announcements, or the
// write subjects of other buckets (another agent's KV heartbeat, a model's current version). nats-server checks no
// permission on a deliver subject (2.9, and still open upstream as nats-server issue 8274), so the committed
// accounts.conf keeps JetStream in its own account, STORE, whose deliveries reach clients only through the stream
// export `_INBOX.>`. Against nats-server from deploy/nats/single-node.conf, nothing the consumers send may arrive
// anywhere. The control mounts the same attack on an open server (one account), where the API delivery arrives.
// On 2.9 a push consumer sends only while a subscription on its exact (literal) deliver subject exists, wildcard
// interest is not noticed, so the victims here subscribe to each target literally, as the edge agent subscribes to
// its API (`cleave.agent.<id>.infer.<model>`), as well as with the wildcards the programs use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@cleave/node-runtime';
import {
  type DeployNats,
  deployUserSettings,
  readDeployStreams,
  startDeployNats,
  useTestNats,
} from '../harness/mod.js';

const encoder = new TextEncoder();
/** Streams gw-wifi may read, each holding at least one message to deliver. */
const READABLE = ['KV_cleave_policies', 'KV_cleave_current', 'OBJ_cleave_bundles'] as const;
/** Where the attacker points its consumers. */
const TARGETS = [
  'cleave.agent.gw-4g.infer.fmnist',
  'cleave.heartbeat.gw-4g',
  'cleave.bundle.fmnist',
  '$KV.cleave_heartbeats.gw-4g',
  '$KV.cleave_current.fmnist',
] as const;
/** How long the consumers get to deliver: a push consumer with interest sends at once. */
const SETTLE_MS = 1_500;

const connections: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});

/** Counts every message on the victims' subscriptions that the attack aims at. */
function listen(victims: { nc: NatsConnection; subject: string }[]): { received: () => number } {
  let received = 0;
  for (const { nc, subject } of victims) {
    nc.subscribe(subject, {
      callback: () => {
        received++;
      },
    });
  }
  return { received: () => received };
}

/**
 * Creates one push consumer per stream and target, named, so the request goes to `$JS.API.CONSUMER.CREATE.<stream>.
 * <name>`, the form the agents' grants allow (the unnamed legacy form is not granted); returns how many the server
 * accepted.
 */
async function attack(attacker: NatsConnection, streams: readonly string[], targets: readonly string[]) {
  const jsm = await jetstreamManager(attacker);
  let created = 0;
  const refusals: string[] = [];
  for (const stream of streams) {
    for (const [i, deliver_subject] of targets.entries()) {
      try {
        await jsm.consumers.add(stream, {
          name: `abuse_${i}`,
          deliver_subject,
          ack_policy: AckPolicy.None,
          deliver_policy: DeliverPolicy.All,
        });
        created++;
      } catch (error) {
        refusals.push(`${stream} -> ${deliver_subject}: ${(error as Error).message}`);
      }
    }
  }
  return { attempted: streams.length * targets.length, created, refusals };
}

describe('against the committed accounts.conf', () => {
  let nats: DeployNats;
  const connectAs = async (user: string) => {
    const nc = await connectNats(deployUserSettings(nats, user), `threat-consumer-abuse:${user}`);
    connections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    nats = await startDeployNats({ configs: ['single-node.conf'] });
    const streams = await readDeployStreams();
    const publisher = await connectAs('publisher');
    const operator = await connectAs('console');
    for (const [nc, names] of [
      [publisher, ['OBJ_cleave_bundles', 'KV_cleave_current']],
      [operator, ['KV_cleave_policies', 'KV_cleave_heartbeats', 'KV_cleave_audit']],
    ] as const) {
      const jsm = await jetstreamManager(nc);
      for (const name of names) await jsm.streams.add({ ...streams.get(name)!, num_replicas: 1 });
    }
    await (
      await new Objm(publisher).open('cleave_bundles')
    ).putBlob({ name: 'fmnist/v1/manifest.json' }, encoder.encode('{}'));
    await (await new Kvm(publisher).open('cleave_current')).put('fmnist', encoder.encode('v1'));
    await (await new Kvm(operator).open('cleave_policies')).put('fleet', encoder.encode('{"objective":"latency"}'));
    await (await new Kvm(await connectAs('gw-4g')).open('cleave_heartbeats')).put('gw-4g', encoder.encode('4g ok'));
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it("delivers nothing into another agent's API, the heartbeat subjects, announcements or other buckets", async () => {
    const [victim, operator, cloud] = [await connectAs('gw-4g'), await connectAs('console'), await connectAs('cloud')];
    const victims = listen([
      { nc: victim, subject: 'cleave.agent.gw-4g.infer.fmnist' },
      { nc: victim, subject: 'cleave.bundle.fmnist' },
      { nc: operator, subject: 'cleave.heartbeat.gw-4g' },
      { nc: operator, subject: 'cleave.bundle.fmnist' },
      { nc: cloud, subject: 'cleave.bundle.fmnist' },
      { nc: victim, subject: 'cleave.agent.gw-4g.>' },
      { nc: victim, subject: 'cleave.bundle.*' },
      { nc: operator, subject: 'cleave.heartbeat.*' },
      { nc: operator, subject: 'cleave.bundle.*' },
      { nc: cloud, subject: 'cleave.bundle.*' },
    ]);
    await Promise.all([victim.flush(), operator.flush(), cloud.flush()]);
    const heartbeats = await new Kvm(operator).open('cleave_heartbeats');
    const current = await new Kvm(operator).open('cleave_current');
    const before = {
      heartbeat: (await heartbeats.get('gw-4g'))?.revision,
      current: (await current.get('fmnist'))?.revision,
    };

    const outcome = await attack(await connectAs('gw-wifi'), READABLE, TARGETS);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const after = { heartbeat: await heartbeats.get('gw-4g'), current: await current.get('fmnist') };
    console.log(
      `consumer abuse (accounts.conf): push consumers accepted ${outcome.created} of ${outcome.attempted} ` +
        `(nats-server checks no deliver subject); delivered to victims: ${victims.received()}; ` +
        `gw-4g heartbeat entry rewritten: ${after.heartbeat?.revision === before.heartbeat ? 0 : 1}; ` +
        `current version rewritten: ${after.current?.revision === before.current ? 0 : 1}`,
    );
    if (outcome.refusals.length > 0) console.log(`refused: ${outcome.refusals.join('; ')}`);
    expect(victims.received()).toBe(0);
    expect(after.heartbeat?.revision).toBe(before.heartbeat);
    expect(after.heartbeat?.string()).toBe('4g ok');
    expect(after.current?.revision).toBe(before.current);
    expect(after.current?.string()).toBe('v1');
  });

  it("still gets its own deliveries: the agent's KV watch and object reads work through STORE", async () => {
    const agent = await connectAs('gw-wifi');
    const watch = await (await new Kvm(agent).open('cleave_current')).watch({ key: 'fmnist' });
    for await (const entry of watch) {
      expect(entry.string()).toBe('v1');
      break;
    }
    const blob = await (await new Objm(agent).open('cleave_bundles')).getBlob('fmnist/v1/manifest.json');
    expect(blob && new TextDecoder().decode(blob)).toBe('{}');
  });
});

describe('control: the same attack on an open server (one account, no permissions)', () => {
  const open = useTestNats();
  it("delivers into the other agent's API, so a 0 above is a real 0", async () => {
    const connect = async (name: string) => {
      const nc = await connectNats({ servers: [open().url], name }, name);
      connections.push(nc);
      return nc;
    };
    const operator = await connect('console');
    await (await new Kvm(operator).create('cleave_policies')).put('fleet', encoder.encode('{"objective":"latency"}'));
    const victim = await connect('gw-4g');
    const victims = listen([{ nc: victim, subject: 'cleave.agent.gw-4g.infer.fmnist' }]);
    await victim.flush();
    const outcome = await attack(await connect('gw-wifi'), ['KV_cleave_policies'], ['cleave.agent.gw-4g.infer.fmnist']);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    console.log(
      `consumer abuse (control, open server): consumers ${outcome.created} of ${outcome.attempted}; ` +
        `delivered into gw-4g's API: ${victims.received()}`,
    );
    expect(victims.received()).toBeGreaterThan(0);
  });
});
