// Threat: whoever can write the bundle store swaps a published bundle for their own. Before signing, replacing a
// file, its sha256 metadata and the manifest under the same version changed 45 of 300 answers of a fresh agent and
// 50 of 50 of a fresh replica, with no warning. Here the bundle is signed by the test publisher, which the agents
// and replicas trust, and an attacker with full write access to the object store and the current-version KV tries:
// a file swapped (weights.bin, a tail graph) with the manifest rewritten to match and its old signature kept, the
// signature stripped, or the manifest re-signed with the attacker's own key; a manifest signed by the trusted key
// whose version is not its content's; an unsigned bundle; a bundle signed by an untrusted key; and a forged version
// promoted over a serving agent. Every one is refused, by a fresh agent and a fresh replica, with its error code.
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createTailService } from '@cleave/cloud-service';
import { EdgeClient } from '@cleave/edge-agent';
import { publishBundle, sha256Hex, signManifest } from '@cleave/node-runtime';
import { blobObjectName, bucketNames, bundleObjectName, type Message, type TailAddress } from '@cleave/proto';
import {
  buildEdgeBundle,
  type EdgeBundle,
  exampleImages,
  inferRequest,
  maxAbsDiff,
  otherPublisher,
  replyLogits,
  requestTail,
  rewriteManifest,
  runHead,
  runTailLocally,
  splitWithoutExits,
  startTestAgent,
  type TestBundle,
  type TestPublisher,
  testPublisher,
  testServiceSettings,
  useTestNats,
  waitFor,
} from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let work: string;
let bundle: EdgeBundle;
let split: string;
let attacker: TestPublisher;
let scenario = 0;

type Signature = 'kept' | 'stripped' | 'attacker';
type Line = Record<string, unknown> & { msg: string; level: string };

/** The cloud-fixtures view of the bundle, to run a split's head and tail here. */
function asTestBundle(b: EdgeBundle): TestBundle {
  const splits = new Map<string, { head: string; tail: string; cut: string[] }>();
  for (const c of b.manifest.candidates) {
    if (c.kind === 'split') splits.set(c.id, { head: join(b.dir, c.head!), tail: join(b.dir, c.tail!), cut: c.cut });
  }
  return { dir: b.dir, model: b.manifest.model.id, version: b.version, splits };
}

/** A prefix of its own for each scenario: its own bundle store and current-version KV. */
async function freshStore(): Promise<string> {
  scenario += 1;
  const prefix = `${nats().prefix}s${scenario}`;
  await publishBundle(nc, bundle.dir, { prefix });
  return prefix;
}

/** Some bytes of `bytes` changed: the file still parses, its numbers do not. */
function tamper(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  const start = Math.floor(out.length / 2);
  for (let i = start; i < Math.min(out.length, start + 4096); i += 4) out[i]! ^= 0x40;
  return out;
}

/**
 * The attacker's swap, under the same version: `file` replaced in the store by tampered bytes (a blob of its own,
 * with the sha256 metadata the publisher would record), the manifest's entry rewritten to match, and the manifest
 * replaced with its signature kept, stripped, or made with the attacker's key.
 */
async function swapFile(prefix: string, file: string, signature: Signature): Promise<void> {
  const os = await new Objm(nc).open(bucketNames(prefix).bundles);
  const tampered = tamper(new Uint8Array(await readFile(join(bundle.dir, file))));
  const sha256 = sha256Hex(tampered);
  await os.putBlob({ name: blobObjectName(sha256), metadata: { 'cleave-sha256': sha256 } }, tampered);
  const json = JSON.parse(await readFile(join(bundle.dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  (json['files'] as Record<string, unknown>)[file] = { sha256, bytes: tampered.byteLength };
  if (signature === 'stripped') delete json['signature'];
  const forged = signature === 'attacker' ? signManifest(json, attacker.seed) : json;
  await putManifest(prefix, bundle.version, forged);
}

async function putManifest(prefix: string, version: string, json: Record<string, unknown>): Promise<void> {
  const os = await new Objm(nc).open(bucketNames(prefix).bundles);
  const bytes = new TextEncoder().encode(JSON.stringify(json, null, 2));
  await os.putBlob(
    { name: bundleObjectName('fmnist', version, 'manifest.json'), metadata: { 'cleave-sha256': sha256Hex(bytes) } },
    bytes,
  );
}

/** A fresh agent on `prefix`: resolves with its refusal log line, once it logged one. */
async function agentRefusal(prefix: string): Promise<Line> {
  const agent = await startTestAgent({
    natsUrl: nats().url,
    prefix,
    config: { models: [{ id: 'fmnist', pin: split }] },
  });
  try {
    await waitFor(() => agent.logs.some((l) => l.msg === 'bundle refused'), 'the agent to refuse the bundle');
    expect(agent.agent.modelStatus('fmnist')?.version ?? null).toBeNull();
    return agent.logs.find((l) => l.msg === 'bundle refused') as Line;
  } finally {
    await agent.close();
  }
}

/** A fresh replica on `prefix`, asked for the split's tail: its reply, and its refusal warning if it logged one. */
async function askReplica(prefix: string, version = bundle.version): Promise<{ reply: Message; refusal?: Line }> {
  const conn = await connect({ servers: nats().url });
  const logs: Line[] = [];
  const at = (level: string) => (fields: object, msg: string) => logs.push({ ...fields, msg, level });
  const service = createTailService({
    nc: conn,
    settings: testServiceSettings(prefix, `replica-${scenario}`, { prewarm: false }),
    logger: { info: at('info'), warn: at('warn'), error: at('error') },
  });
  await service.start();
  await conn.flush(); // the server has its subscriptions before the request is sent
  try {
    const address: TailAddress = { model: 'fmnist', version, split };
    const cut = await runHead(asTestBundle(bundle), split, exampleImages(1, 7), 1);
    const reply = await requestTail(nc, prefix, address, inferRequest(address, `swap-${scenario}`, cut));
    const refusal = logs.find((l) => l.msg === 'bundle refused');
    return refusal === undefined ? { reply } : { reply, refusal };
  } finally {
    await service.close();
    await conn.close();
  }
}

/** Refusals of one attack by a fresh agent and a fresh replica, checked against the expected code. */
async function expectRefused(prefix: string, code: string, counts: { agent: number; replica: number }): Promise<void> {
  const line = await agentRefusal(prefix);
  expect(line).toMatchObject({ level: 'error', code, version: bundle.version, serving: null });
  counts.agent += 1;
  const { reply, refusal } = await askReplica(prefix);
  expect(reply).toMatchObject({ kind: 'error', code: 'version_mismatch' });
  expect(reply.kind === 'error' ? reply.message : '').toMatch(new RegExp(`refuses bundle fmnist@${bundle.version}`));
  expect(refusal).toMatchObject({ level: 'warn', event: 'bundle_refused', code });
  counts.replica += 1;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-threat-swap-'));
  bundle = await buildEdgeBundle(join(work, 'signed'), { calibrate: false });
  split = splitWithoutExits(bundle.manifest).id;
  attacker = otherPublisher();
  nc = await connect({ servers: nats().url });
}, 180_000);

afterAll(async () => {
  await nc?.close();
});

describe('threat: a bundle swapped in the store under the same version', () => {
  it('loads and serves the bundle as signed by the trusted publisher, on a fresh agent and a fresh replica', async () => {
    expect(bundle.manifest.signature).toBeDefined();
    const prefix = await freshStore();
    const { reply, refusal } = await askReplica(prefix);
    // No refusal: the replica answered the tail, and equally to the tail run here.
    expect(refusal).toBeUndefined();
    const cut = await runHead(asTestBundle(bundle), split, exampleImages(1, 7), 1);
    const expected = await runTailLocally(asTestBundle(bundle), split, cut);
    expect(maxAbsDiff(replyLogits(reply), expected)).toBeLessThan(1e-4);

    const agent = await startTestAgent({ natsUrl: nats().url, prefix, config: { models: [{ id: 'fmnist' }] } });
    try {
      await agent.agent.whenServing('fmnist', bundle.version);
      const client = new EdgeClient({ url: agent.agent.httpUrl! });
      let served = 0;
      for (let i = 0; i < 5; i += 1) {
        const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: exampleImages(1, i) } });
        if (r.version === bundle.version) served += 1;
      }
      expect(served).toBe(5);
      const trust = agent.logs.find((l) => l['event'] === 'bundle_trust');
      expect(trust).toMatchObject({ level: 'info', allowUnsigned: false, trustedPublishers: ['test-publisher'] });
      console.log(`signed bundle ${bundle.version}: agent served ${served} of 5, replica answered 1 of 1 exactly`);
    } finally {
      await agent.close();
    }
  });

  it('refuses every swap of a file and its manifest, by a fresh agent and a fresh replica, N of N', async () => {
    const tail = bundle.manifest.candidates.find((c) => c.id === split)!.tail!;
    const attacks: { file: string; signature: Signature; code: string }[] = [];
    for (const file of ['weights.bin', tail]) {
      attacks.push({ file, signature: 'kept', code: 'bad_signature' });
      attacks.push({ file, signature: 'stripped', code: 'unsigned' });
      attacks.push({ file, signature: 'attacker', code: 'untrusted_publisher' });
    }
    const counts = { agent: 0, replica: 0 };
    for (const attack of attacks) {
      const prefix = await freshStore();
      await swapFile(prefix, attack.file, attack.signature);
      await expectRefused(prefix, attack.code, counts);
    }
    console.log(
      `swapped bundles refused: agent ${counts.agent} of ${attacks.length}, replica ${counts.replica} of ` +
        `${attacks.length} (${attacks.map((a) => `${a.file}/${a.signature}:${a.code}`).join(', ')})`,
    );
    expect(counts).toEqual({ agent: attacks.length, replica: attacks.length });
  }, 120_000);

  it('refuses a manifest signed by the trusted key whose version is not its content’s', async () => {
    const prefix = await freshStore();
    // What a publisher bug (or a stolen, replayed signature on edited content) would upload: re-signed after the
    // plan changed, with the old version kept.
    const json = JSON.parse(await readFile(join(bundle.dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    (json['plan'] as { rttMs: number }).rttMs += 1;
    await putManifest(prefix, bundle.version, signManifest(json, testPublisher().seed));
    const counts = { agent: 0, replica: 0 };
    await expectRefused(prefix, 'content_mismatch', counts);
    console.log(
      `re-signed manifest with a stale version refused: agent ${counts.agent} of 1, replica ${counts.replica} of 1`,
    );
  });

  it('refuses an unsigned bundle and one signed by an untrusted key, with a clear error', async () => {
    const results: string[] = [];
    for (const [name, signer] of [
      ['unsigned', null],
      ['untrusted', attacker],
    ] as const) {
      const dir = join(work, name);
      await cp(bundle.dir, dir, { recursive: true });
      const { manifest } = await rewriteManifest(dir, () => undefined, signer);
      scenario += 1;
      const prefix = `${nats().prefix}s${scenario}`;
      await publishBundle(nc, dir, { prefix });
      const code = name === 'unsigned' ? 'unsigned' : 'untrusted_publisher';
      const agent = await startTestAgent({ natsUrl: nats().url, prefix, config: { models: [{ id: 'fmnist' }] } });
      try {
        await waitFor(
          () => agent.logs.some((l) => l.msg === 'bundle refused'),
          `the agent to refuse the ${name} bundle`,
        );
        const line = agent.logs.find((l) => l.msg === 'bundle refused')!;
        expect(line).toMatchObject({ code, version: manifest.version });
        const message = String(line['err']);
        expect(message).toMatch(
          name === 'unsigned'
            ? /is not signed; only bundles signed by test-publisher \(A[A-Z2-7]{55}\) are loaded/
            : new RegExp(`is signed by ${attacker.publicKey}, which is not among bundles.trustedPublishers`),
        );
        results.push(`${name}: ${code}`);
      } finally {
        await agent.close();
      }
      const { reply } = await askReplica(prefix, manifest.version);
      expect(reply).toMatchObject({ kind: 'error', code: 'version_mismatch' });
      expect(reply.kind === 'error' ? reply.message : '').toContain(
        code === 'unsigned' ? 'is not signed' : 'not among',
      );
      if (name === 'unsigned') {
        // The development opt-out loads it, and says so loudly at start.
        const dev = await startTestAgent({
          natsUrl: nats().url,
          prefix,
          config: { models: [{ id: 'fmnist' }], bundles: { allowUnsigned: true } },
        });
        try {
          await dev.agent.whenServing('fmnist', manifest.version);
          expect(dev.logs.find((l) => l['event'] === 'bundle_trust')).toMatchObject({
            level: 'warn',
            allowUnsigned: true,
            msg: expect.stringMatching(/UNSIGNED AND UNTRUSTED BUNDLES ARE LOADED/) as unknown,
          });
          results.push('unsigned with bundles.allowUnsigned: loaded, warned');
        } finally {
          await dev.close();
        }
      }
    }
    console.log(`refused by agent and replica (2 of 2): ${results.join(', ')}`);
  });

  it('keeps serving the signed version when a forged version is promoted', async () => {
    const prefix = await freshStore();
    const agent = await startTestAgent({ natsUrl: nats().url, prefix, config: { models: [{ id: 'fmnist' }] } });
    try {
      await agent.agent.whenServing('fmnist', bundle.version);
      // A new version in the attacker's name, made current with the attacker's write access to the KV.
      const dir = join(work, 'forged');
      await cp(bundle.dir, dir, { recursive: true });
      const { manifest } = await rewriteManifest(
        dir,
        (json) => {
          json['createdAt'] = new Date().toISOString();
        },
        attacker,
      );
      await publishBundle(nc, dir, { prefix, makeCurrent: false });
      await (await new Kvm(nc).open(bucketNames(prefix).current)).put('fmnist', manifest.version);
      await waitFor(() => agent.logs.some((l) => l.msg === 'bundle refused'), 'the agent to refuse the forged version');
      const line = agent.logs.find((l) => l.msg === 'bundle refused')!;
      expect(line).toMatchObject({ code: 'untrusted_publisher', version: manifest.version, serving: bundle.version });
      const client = new EdgeClient({ url: agent.agent.httpUrl! });
      let previous = 0;
      for (let i = 0; i < 5; i += 1) {
        const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: exampleImages(1, i) } });
        if (r.version === bundle.version) previous += 1;
      }
      expect(previous).toBe(5);
      console.log(
        `forged version ${manifest.version} refused; the agent kept serving ${bundle.version}: ${previous} of 5`,
      );
    } finally {
      await agent.close();
    }
  });
});
