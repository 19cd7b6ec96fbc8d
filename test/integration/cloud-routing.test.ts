// Routing and answers of the tail service against a real nats-server, a real bundle store and onnxruntime: two
// versions of the example model (differing classifier bias) and two split points served at once, each request
// checked against running its own version's head and tail locally.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import type { Message, TailAddress } from '@cleave/proto';
import {
  buildExampleBundle,
  exampleImages,
  inferRequest,
  maxAbsDiff,
  replyLogits,
  requestTail,
  runHead,
  runTailLocally,
  startTestReplica,
  type TestBundle,
  testServiceSettings,
  useTestNats,
  writeVariantModel,
} from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let v1: TestBundle;
let v2: TestBundle;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let splits: [string, string];

beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'cleave-routing-'));
  nc = await connect({ servers: nats().url });
  v1 = await buildExampleBundle(join(work, 'v1'));
  v2 = await buildExampleBundle(join(work, 'v2'), await writeVariantModel(join(work, 'variant.onnx')), {
    profilesFrom: v1,
  });
  expect(v2.version).not.toBe(v1.version);
  await publishBundle(nc, v1.dir, { prefix: nats().prefix });
  await publishBundle(nc, v2.dir, { prefix: nats().prefix });
  // An early split (big cut) and a late one (small cut), present in both versions.
  const common = [...v1.splits.keys()].filter((id) => v2.splits.has(id));
  splits = [common[0]!, common.at(-1)!];
  replica = await startTestReplica(
    nats().url,
    testServiceSettings(nats().prefix, 'routing', {
      batching: { maxBatchSize: 16, maxQueueDelayUs: 5000, maxQueueRequests: 256 },
    }),
  );
});
afterAll(async () => {
  await replica?.close();
  await nc?.close();
});

const address = (bundle: TestBundle, split: string): TailAddress => ({
  model: bundle.model,
  version: bundle.version,
  split,
});

function expectError(message: Message, code: string, text: RegExp): void {
  expect(message).toMatchObject({ kind: 'error', code });
  expect((message as { message: string }).message).toMatch(text);
}

describe('tail service: serving', () => {
  it('serves two versions at two splits concurrently, each request by its own version, batched', async () => {
    interface Case {
      bundle: TestBundle;
      other: TestBundle;
      split: string;
      images: number;
      seed: number;
    }
    const cases: Case[] = [];
    for (let i = 0; i < 48; i += 1) {
      const [bundle, other] = i % 2 === 0 ? [v1, v2] : [v2, v1];
      cases.push({ bundle, other, split: splits[Math.floor(i / 2) % 2]!, images: 1 + (i % 3), seed: i + 1 });
    }
    const prepared = await Promise.all(
      cases.map(async (c) => {
        const cut = await runHead(c.bundle, c.split, exampleImages(c.images, c.seed), c.images);
        return {
          ...c,
          cut,
          expected: await runTailLocally(c.bundle, c.split, cut),
          otherVersion: await runTailLocally(c.other, c.split, cut),
        };
      }),
    );
    const replies = await Promise.all(
      prepared.map((c, i) =>
        requestTail(
          nc,
          nats().prefix,
          address(c.bundle, c.split),
          inferRequest(address(c.bundle, c.split), `r${i}`, c.cut),
        ),
      ),
    );
    replies.forEach((reply, i) => {
      const c = prepared[i]!;
      expect(reply).toMatchObject({ kind: 'infer_reply', id: `r${i}`, replica: 'routing' });
      const logits = replyLogits(reply);
      expect(logits).toHaveLength(c.images * 10);
      expect(maxAbsDiff(logits, c.expected)).toBeLessThan(1e-4);
      expect(maxAbsDiff(logits, c.otherVersion)).toBeGreaterThan(0.5);
    });
    const batchSizes = replies.map((r) => (r.kind === 'infer_reply' ? r.batchSize : 0));
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
    expect(replica.service.stats().loadedTails).toBe(4);
  });

  it('answers f16 requests in f16 within the f16 error bound', async () => {
    const split = splits[1];
    const cut = await runHead(v1, split, exampleImages(2, 99), 2);
    const expected = await runTailLocally(v1, split, cut);
    const reply = await requestTail(
      nc,
      nats().prefix,
      address(v1, split),
      inferRequest(address(v1, split), 'h', cut, { encoding: 'f16' }),
    );
    expect(reply.kind === 'infer_reply' && reply.outputs[0]!.encoding).toBe('f16');
    const logits = replyLogits(reply);
    const scale = Math.max(...expected.map(Math.abs));
    expect(maxAbsDiff(logits, expected)).toBeLessThan(scale * 2 ** -8);
  });
});

describe('tail service: expected failure', () => {
  it('answers version_mismatch for a version that was never published, never another version', async () => {
    const cut = await runHead(v1, splits[0], exampleImages(1, 5), 1);
    const stale = { ...address(v1, splits[0]), version: 'v000000000000' };
    const reply = await requestTail(nc, nats().prefix, stale, inferRequest(stale, 'stale', cut));
    expectError(
      reply,
      'version_mismatch',
      new RegExp(`no version v000000000000 in the store \\(current is ${v2.version}\\)`),
    );
    expect(reply).toMatchObject({ id: 'stale', retryable: false });
  });

  it('answers unknown_model, and bad_request for a split the bundle lacks or a subject/message mismatch', async () => {
    const cut = await runHead(v1, splits[0], exampleImages(1, 6), 1);
    const unknown = { model: 'nosuchmodel', version: v1.version, split: splits[0] };
    expectError(
      await requestTail(nc, nats().prefix, unknown, inferRequest(unknown, 'u', cut)),
      'unknown_model',
      /never been published/,
    );
    const noSplit = { ...address(v1, 'split-999') };
    expectError(
      await requestTail(nc, nats().prefix, noSplit, inferRequest(noSplit, 's', cut)),
      'bad_request',
      /has no split split-999/,
    );
    const sentTo = address(v1, splits[0]);
    const says = address(v2, splits[0]);
    expectError(
      await requestTail(nc, nats().prefix, sentTo, inferRequest(says, 'x', cut)),
      'bad_request',
      /subject says .* but the message says/,
    );
  });

  it('answers bad_request when the tensors do not fit the tail', async () => {
    const wrong = await runHead(v1, splits[1], exampleImages(1, 7), 1);
    const at = address(v1, splits[0]);
    expectError(
      await requestTail(nc, nats().prefix, at, inferRequest(at, 'w', wrong)),
      'bad_request',
      /tail inputs are/,
    );
  });

  it('answers deadline_exceeded for a deadline already past, from the header or the message', async () => {
    const cut = await runHead(v1, splits[1], exampleImages(1, 8), 1);
    const at = address(v1, splits[1]);
    const past = Date.now() - 1;
    expectError(
      await requestTail(nc, nats().prefix, at, inferRequest(at, 'd1', cut, { deadline: past })),
      'deadline_exceeded',
      /passed/,
    );
    const viaHeader = await requestTail(nc, nats().prefix, at, inferRequest(at, 'd2', cut), { deadlineHeader: past });
    expectError(viaHeader, 'deadline_exceeded', /passed/);
    expect(viaHeader).toMatchObject({ retryable: true });
  });

  it('answers overloaded at once past the in-flight bound, and serves what it admitted', async () => {
    const tight = await startTestReplica(
      nats().url,
      testServiceSettings(`${nats().prefix}t`, 'tight', {
        maxInFlight: 3,
        batching: { maxBatchSize: 64, maxQueueDelayUs: 300_000, maxQueueRequests: 64 },
      }),
    );
    try {
      await publishBundle(tight.nc, v1.dir, { prefix: `${nats().prefix}t` });
      const cut = await runHead(v1, splits[1], exampleImages(1, 9), 1);
      const at = address(v1, splits[1]);
      const replies = await Promise.all(
        Array.from({ length: 12 }, (_, i) => requestTail(nc, `${nats().prefix}t`, at, inferRequest(at, `o${i}`, cut))),
      );
      const overloaded = replies.filter((r) => r.kind === 'error' && r.code === 'overloaded');
      const served = replies.filter((r) => r.kind === 'infer_reply');
      expect(served.length).toBeGreaterThanOrEqual(1);
      expect(served.length).toBeLessThanOrEqual(3);
      expect(overloaded.length + served.length).toBe(12);
      expect(overloaded[0]).toMatchObject({
        retryable: true,
        message: expect.stringMatching(/is at its in-flight limit \(3 requests/) as unknown,
      });
    } finally {
      await tight.close();
    }
  });
});
