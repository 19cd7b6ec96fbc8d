// What deploy/nats/accounts.conf allows and refuses, against a real nats-server started from
// deploy/nats/single-node.conf (which includes the same accounts file as the cluster nodes). Every refusal is
// observed twice: by the client (a permissions violation on the call, or on the connection's status stream for a
// plain publish) and in the server's log, which must list exactly the refusals provoked here and nothing else, so
// an allowed workflow that silently tripped over a missing grant would fail the last test.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, headers, type NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import { createBundleReader, inboxPrefixFor, publishBundle } from '@cleave/node-runtime';
import { createConsoleData } from '@cleave/console';
import { encodeMessage, PROTOCOL_VERSION } from '@cleave/proto';
import {
  buildExampleBundle,
  type DeployNats,
  devPassword,
  loggedViolations,
  readDeployStreams,
  startDeployNats,
  type TestBundle,
} from '../harness/mod.js';

const AGENTS = ['gw-wifi', 'gw-4g', 'gw-3g'] as const;
const FLEET_POLICY = JSON.stringify({ objective: 'latency' });
const encoder = new TextEncoder();

let nats: DeployNats;
let bundle: TestBundle;
let work: string;
let publisher: NatsConnection;
let operator: NatsConnection;
const connections: NatsConnection[] = [];

/** Refusals the tests provoke on purpose: the server log must hold exactly these. */
const provoked: { user: string; kind: 'publish' | 'subscription'; subject: string | RegExp; queue?: string }[] = [];

async function connectAs(user: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: [...nats.urls],
    user,
    pass: devPassword(nats.credentials, user),
    name: `deploy-permissions:${user}`,
    // The inbox prefix every Cleave program derives from its user name: the only inbox accounts.conf grants it.
    inboxPrefix: inboxPrefixFor(user),
  });
  connections.push(nc);
  return nc;
}

/** Permission errors the server reports asynchronously on a connection (a plain publish has no reply to fail). */
function statusPermissionErrors(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error' && status.error instanceof PermissionViolationError) seen.push(status.error);
    }
  })();
  return seen;
}

function permissionErrorIn(error: unknown): PermissionViolationError | undefined {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof PermissionViolationError) return e;
  return undefined;
}

/** Awaits a call that must fail with a permissions violation naming `subject`, and records it as provoked. */
async function expectRefused(
  user: string,
  call: Promise<unknown>,
  subject: string,
  alsoLogged: (string | RegExp)[] = [],
): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  const violation = permissionErrorIn(error);
  expect(violation, `expected a permissions violation, got ${String(error)}`).toBeInstanceOf(PermissionViolationError);
  expect(violation?.operation).toBe('publish');
  expect(violation?.subject).toBe(subject);
  provoked.push({ user, kind: 'publish', subject });
  for (const other of alsoLogged) provoked.push({ user, kind: 'publish', subject: other });
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-deploy-permissions-'));
  [nats, bundle] = await Promise.all([
    startDeployNats({ configs: ['single-node.conf'] }),
    buildExampleBundle(join(work, 'bundle')),
  ]);
  // Buckets are provisioned by their owners from deploy/nats/streams (one replica: this is a single server).
  const streams = await readDeployStreams();
  const provision = async (nc: NatsConnection, names: string[]) => {
    const jsm = await jetstreamManager(nc);
    for (const name of names) await jsm.streams.add({ ...streams.get(name)!, num_replicas: 1 });
  };
  publisher = await connectAs('publisher');
  operator = await connectAs('console');
  await provision(publisher, ['OBJ_cleave_bundles', 'KV_cleave_current']);
  await provision(operator, [
    'KV_cleave_policies',
    'KV_cleave_heartbeats',
    'HISTORY_cleave_heartbeats',
    'KV_cleave_audit',
  ]);
  await publishBundle(publisher, bundle.dir);
  await (await new Kvm(operator).open('cleave_policies')).put('fleet', FLEET_POLICY);
}, 60_000);

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await nats?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('an edge agent (gw-wifi)', () => {
  it('publishes its own heartbeat; one forged as gw-4g is refused with a permissions violation and reaches nobody', async () => {
    const agent = await connectAs('gw-wifi');
    const refused = statusPermissionErrors(agent);
    const received: string[] = [];
    operator.subscribe('cleave.heartbeat.*', {
      callback: (_err, msg) => {
        received.push(msg.subject);
      },
    });
    await operator.flush();

    agent.publish('cleave.heartbeat.gw-wifi', encoder.encode('1'));
    agent.publish('cleave.heartbeat.gw-4g', encoder.encode('forged'));
    // Published after the forged one on the same connection: once it has arrived, the forged one would have too.
    agent.publish('cleave.heartbeat.gw-wifi', encoder.encode('2'));
    await agent.flush();
    await until('both own heartbeats at the console', () => received.length >= 2);
    await until('the permissions violation on the agent', () => refused.length >= 1);

    expect(received).toEqual(['cleave.heartbeat.gw-wifi', 'cleave.heartbeat.gw-wifi']);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ operation: 'publish', subject: 'cleave.heartbeat.gw-4g' });
    expect(refused[0]?.message).toBe('Permissions Violation for Publish to "cleave.heartbeat.gw-4g"');
    expect(agent.isClosed()).toBe(false);
    provoked.push({ user: 'gw-wifi', kind: 'publish', subject: 'cleave.heartbeat.gw-4g' });
  });

  it("writes its own heartbeat entry in KV, but not another agent's, and cannot read the others", async () => {
    const agent = await connectAs('gw-wifi');
    const heartbeats = await new Kvm(agent).open('cleave_heartbeats');
    await heartbeats.put('gw-wifi', encoder.encode('wifi is fine'));
    await expectRefused('gw-wifi', heartbeats.put('gw-4g', encoder.encode('forged')), '$KV.cleave_heartbeats.gw-4g');
    await expectRefused('gw-wifi', heartbeats.get('gw-3g'), '$JS.API.STREAM.MSG.GET.KV_cleave_heartbeats');

    const seen = await new Kvm(operator).open('cleave_heartbeats');
    expect((await seen.get('gw-wifi'))?.string()).toBe('wifi is fine');
    expect(await seen.get('gw-4g')).toBeNull();
  });

  it("cannot wipe the other agents' heartbeats with a rollup header on its own key (rollups are off)", async () => {
    const other = await connectAs('gw-4g');
    await (await new Kvm(other).open('cleave_heartbeats')).put('gw-4g', encoder.encode('4g is fine'));
    const agent = await connectAs('gw-wifi');
    const rollup = headers();
    rollup.set('Nats-Rollup', 'all');
    const error = await jetstream(agent)
      .publish('$KV.cleave_heartbeats.gw-wifi', encoder.encode('x'), { headers: rollup })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(JetStreamApiError);
    expect((error as Error).message).toBe('rollup not permitted');
    expect((await (await new Kvm(operator).open('cleave_heartbeats')).get('gw-4g'))?.string()).toBe('4g is fine');
  });

  it('cannot change policies or current versions, tamper with bundles, announce, or create and delete streams', async () => {
    const agent = await connectAs('gw-wifi');
    const policies = await new Kvm(agent).open('cleave_policies');
    const current = await new Kvm(agent).open('cleave_current');
    const bundles = await new Objm(agent).open('cleave_bundles');
    const jsm = await jetstreamManager(agent);

    await expectRefused('gw-wifi', policies.put('fleet', encoder.encode('{}')), '$KV.cleave_policies.fleet');
    // Not even its own per-agent policy: policies come from operators.
    await expectRefused(
      'gw-wifi',
      policies.put('agent.gw-wifi', encoder.encode('{}')),
      '$KV.cleave_policies.agent.gw-wifi',
    );
    await expectRefused(
      'gw-wifi',
      current.put(bundle.model, encoder.encode('v000000000000')),
      '$KV.cleave_current.fmnist',
    );
    // The chunk upload is refused first; the client then tries to clean up with a purge, refused too.
    await expectRefused(
      'gw-wifi',
      bundles.putBlob({ name: `${bundle.model}/${bundle.version}/model.onnx` }, encoder.encode('evil')),
      '$JS.API.STREAM.PURGE.OBJ_cleave_bundles',
      [/^\$O\.cleave_bundles\.C\.[A-Za-z0-9]+$/],
    );
    await expectRefused(
      'gw-wifi',
      jsm.streams.delete('OBJ_cleave_bundles'),
      '$JS.API.STREAM.DELETE.OBJ_cleave_bundles',
    );
    await expectRefused('gw-wifi', jsm.streams.purge('KV_cleave_current'), '$JS.API.STREAM.PURGE.KV_cleave_current');
    await expectRefused('gw-wifi', new Kvm(agent).create('cleave_rogue'), '$JS.API.STREAM.INFO.KV_cleave_rogue');
    await expectRefused(
      'gw-wifi',
      agent.request('cleave.bundle.fmnist', encoder.encode('fake announcement'), { timeout: 2_000 }),
      'cleave.bundle.fmnist',
    );

    // Nothing changed.
    const reader = createBundleReader(operator);
    expect(await reader.currentVersion(bundle.model)).toBe(bundle.version);
    expect((await (await new Kvm(operator).open('cleave_policies')).get('fleet'))?.string()).toBe(FLEET_POLICY);
    const manifest = await reader.readManifest(bundle.model, bundle.version);
    expect(manifest.manifest.version).toBe(bundle.version);
  });

  it("cannot subscribe to tail requests (with or without the cloud's queue group) or another agent's API", async () => {
    const agent = await connectAs('gw-wifi');
    const cases = [
      { subject: 'cleave.tail.>', queue: undefined },
      { subject: 'cleave.tail.>', queue: 'cleave-tail' },
      { subject: 'cleave.agent.gw-4g.>', queue: undefined },
    ];
    for (const { subject, queue } of cases) {
      const sub = agent.subscribe(subject, queue === undefined ? {} : { queue });
      const closedWith = await sub.closed;
      expect(closedWith).toBeInstanceOf(PermissionViolationError);
      expect(closedWith).toMatchObject({ operation: 'subscription', subject, queue });
      provoked.push({ user: 'gw-wifi', kind: 'subscription', subject, ...(queue === undefined ? {} : { queue }) });
    }
    // Its own API subject is fine.
    const own = agent.subscribe('cleave.agent.gw-wifi.>');
    await agent.flush();
    expect(own.isClosed()).toBe(false);
    own.unsubscribe();
  });

  it('reads the bundle manifest, a file (sha256-verified) and the current version', async () => {
    const agent = await connectAs('gw-wifi');
    const reader = createBundleReader(agent);
    expect(await reader.currentVersion(bundle.model)).toBe(bundle.version);
    const { manifest } = await reader.readManifest(bundle.model, bundle.version);
    expect(manifest.model.id).toBe(bundle.model);
    const split = manifest.candidates.find((c) => c.kind === 'split' && c.tail !== null);
    expect(split?.tail).toBeTruthy();
    const tail = await reader.readFile(bundle.model, bundle.version, split!.tail!, manifest);
    const local = await readFile(join(bundle.dir, split!.tail!));
    expect(sha256(tail)).toBe(sha256(local));
    expect(sha256(tail)).toBe(manifest.files[split!.tail!]?.sha256);
    // A paced download (the agent's, under bundles.downloadShare) pulls one chunk at a time from a pull consumer.
    let pulled = 0;
    const paced = await reader.readFile(bundle.model, bundle.version, split!.tail!, manifest, {
      onChunk: (bytes) => {
        pulled += bytes;
      },
    });
    expect(sha256(paced)).toBe(sha256(local));
    expect(pulled).toBe(local.byteLength);
  });

  it('streams a 24 MiB object, which needs flow-control replies, and watches policies', async () => {
    // Four flow-control round trips at this size on nats-server 2.9 (seen in a protocol trace).
    const big = new Uint8Array(randomBytes(24 * 1024 * 1024));
    await (await new Objm(publisher).open('cleave_bundles')).putBlob({ name: 'deploy-test/large.bin' }, big);
    const agent = await connectAs('gw-wifi');
    const back = await (await new Objm(agent).open('cleave_bundles')).getBlob('deploy-test/large.bin');
    expect(back?.byteLength).toBe(big.byteLength);
    expect(sha256(back!)).toBe(sha256(big));

    const watch = await (await new Kvm(agent).open('cleave_policies')).watch({ key: '>' });
    for await (const entry of watch) {
      expect(entry.key).toBe('fleet');
      expect(entry.string()).toBe(FLEET_POLICY);
      break;
    }
  });
});

describe('every example agent', () => {
  it('may publish its own heartbeat and not the next one', async () => {
    for (const [i, id] of AGENTS.entries()) {
      const other = AGENTS[(i + 1) % AGENTS.length]!;
      const agent = await connectAs(id);
      const refused = statusPermissionErrors(agent);
      agent.publish(`cleave.heartbeat.${id}`, encoder.encode('ok'));
      agent.publish(`cleave.heartbeat.${other}`, encoder.encode('forged'));
      await agent.flush();
      await until(`the violation on ${id}`, () => refused.length >= 1);
      expect(refused.map((e) => e.subject)).toEqual([`cleave.heartbeat.${other}`]);
      provoked.push({ user: id, kind: 'publish', subject: `cleave.heartbeat.${other}` });
      await (await new Kvm(agent).open('cleave_heartbeats')).put(id, encoder.encode('ok'));
    }
  });
});

describe('the cloud user', () => {
  it('serves tail requests only in queue group cleave-tail, answering through allow_responses', async () => {
    const cloud = await connectAs('cloud');
    const plain = cloud.subscribe('cleave.tail.>');
    expect(await plain.closed).toMatchObject({ operation: 'subscription', subject: 'cleave.tail.>' });
    provoked.push({ user: 'cloud', kind: 'subscription', subject: 'cleave.tail.>' });

    cloud.subscribe('cleave.tail.>', {
      queue: 'cleave-tail',
      callback: (_err, msg) => {
        msg.respond(encoder.encode(`tail of ${msg.subject}`));
      },
    });
    await cloud.flush();
    const agent = await connectAs('gw-3g');
    const subject = `cleave.tail.${bundle.model}.${bundle.version}.split-02`;
    const reply = await agent.request(subject, encoder.encode('tensor'), { timeout: 2_000 });
    expect(reply.string()).toBe(`tail of ${subject}`);
  });

  it("may answer a request it received, but not publish into someone's inbox or act as an agent", async () => {
    const cloud = await connectAs('cloud');
    const refused = statusPermissionErrors(cloud);
    cloud.publish('_INBOX.injected', encoder.encode('unsolicited'));
    cloud.publish('cleave.heartbeat.gw-wifi', encoder.encode('forged'));
    await cloud.flush();
    await until('two violations on the cloud connection', () => refused.length >= 2);
    expect(refused.map((e) => e.subject).sort()).toEqual(['_INBOX.injected', 'cleave.heartbeat.gw-wifi']);
    provoked.push({ user: 'cloud', kind: 'publish', subject: '_INBOX.injected' });
    provoked.push({ user: 'cloud', kind: 'publish', subject: 'cleave.heartbeat.gw-wifi' });
    await expectRefused(
      'cloud',
      (await new Kvm(cloud).open('cleave_policies')).put('fleet', encoder.encode('{}')),
      '$KV.cleave_policies.fleet',
    );
    // Reading bundles is its job.
    expect(await createBundleReader(cloud).currentVersion(bundle.model)).toBe(bundle.version);
  });
});

describe('the console and the publisher', () => {
  it('split the writes: the console sets policies and current versions, only the publisher uploads bundles', async () => {
    await (await new Kvm(operator).open('cleave_current')).put(bundle.model, encoder.encode(bundle.version));
    await (
      await new Kvm(operator).open('cleave_policies')
    ).put('agent.gw-3g', encoder.encode('{"objective":"energy"}'));
    await expectRefused(
      'console',
      (await new Objm(operator).open('cleave_bundles')).putBlob({ name: 'console/upload.bin' }, encoder.encode('x')),
      '$JS.API.STREAM.PURGE.OBJ_cleave_bundles',
      [/^\$O\.cleave_bundles\.C\.[A-Za-z0-9]+$/],
    );
    await expectRefused(
      'publisher',
      (await new Kvm(publisher).open('cleave_policies')).put('fleet', encoder.encode('{}')),
      '$KV.cleave_policies.fleet',
    );
  });
});

describe("the console's heartbeat history", () => {
  it("reads one agent's beats since a time with the grants it has (an ordered push consumer on the mirror)", async () => {
    const agent = await connectAs('gw-3g');
    const beat = (sentAt: number) =>
      encodeMessage({ kind: 'heartbeat', v: PROTOCOL_VERSION, agentId: 'gw-3g', sentAt, models: [], rttMs: sentAt });
    const kv = await new Kvm(agent).open('cleave_heartbeats');
    const subject = '$KV.cleave_heartbeats.gw-3g';
    const jsm = await jetstreamManager(operator);
    const mirrored = async () =>
      (await jsm.streams.info('HISTORY_cleave_heartbeats', { subjects_filter: subject })).state.subjects?.[subject] ??
      0;
    const before = await mirrored();
    const since = Date.now();
    // Enough beats that the server asks for flow control, which the console must be allowed to answer.
    const count = 3000;
    for (let sentAt = 1; sentAt <= count; sentAt++) await kv.put('gw-3g', beat(sentAt));
    const data = createConsoleData(operator, { prefix: 'cleave' });
    // The mirror holds what it copied: puts this fast can replace a key before the mirror reads it (the bucket
    // keeps one value per key), so the reference is the mirror's own count, and the last beat must be there.
    const lastRtt = async () => (await data.heartbeatHistory('gw-3g', since)).at(-1)?.heartbeat.rttMs;
    await expect.poll(lastRtt, { timeout: 10_000 }).toBe(count);
    const beats = await data.heartbeatHistory('gw-3g', since);
    console.log(`history read back ${beats.length} of ${count} beats written, the mirror holds ${await mirrored()}`);
    // Every beat the mirror took in since (an earlier test wrote this key too, not a heartbeat), none twice.
    expect(beats.length).toBe((await mirrored()) - before);
    expect(beats.length).toBeGreaterThan(count * 0.9);
    const rtts = beats.map((b) => b.heartbeat.rttMs!);
    expect(rtts.every((r, i) => i === 0 || r > rtts[i - 1]!)).toBe(true);
    expect(beats.every((b) => b.t >= since - 1000)).toBe(true);
  }, 15_000);
});

describe('the server log', () => {
  it('lists exactly the refusals provoked above: no allowed workflow tripped over a missing grant', async () => {
    // The server writes its log asynchronously; the last refusal was a moment ago.
    await sleep(200);
    const logged = loggedViolations(nats.nodes[0]!.log());
    const unexplained = logged.filter(
      (v) =>
        !provoked.some(
          (p) =>
            p.user === v.user &&
            p.kind === v.kind &&
            p.queue === v.queue &&
            (typeof p.subject === 'string' ? p.subject === v.subject : p.subject.test(v.subject)),
        ),
    );
    expect(unexplained).toEqual([]);
    const unlogged = provoked.filter(
      (p) =>
        !logged.some(
          (v) =>
            p.user === v.user &&
            p.kind === v.kind &&
            (typeof p.subject === 'string' ? p.subject === v.subject : p.subject.test(v.subject)),
        ),
    );
    expect(unlogged).toEqual([]);
  });
});

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
