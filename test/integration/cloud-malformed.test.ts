// 10,000 malformed messages against one replica, with valid requests interleaved: the replica stays up, every
// message with a reply subject gets a typed error, messages without one are counted and dropped, and the valid
// requests are served.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { decodeMessage, type Message, seededRandom, tailSubject, WireErrorCode } from '@cleave/proto';
import {
  buildExampleBundle,
  exampleImages,
  inferRequest,
  maxAbsDiff,
  type MsgpackValue,
  packMsgpack,
  replyLogits,
  runHead,
  runTailLocally,
  startTestReplica,
  type TestBundle,
  testServiceSettings,
  useTestNats,
} from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let bundle: TestBundle;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let split: string;
let cut: Awaited<ReturnType<typeof runHead>>;
let expected: Float32Array;

beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'cleave-malformed-'));
  nc = await connect({ servers: nats().url });
  bundle = await buildExampleBundle(join(work, 'bundle'));
  await publishBundle(nc, bundle.dir, { prefix: nats().prefix });
  split = [...bundle.splits.keys()].at(-1)!;
  cut = await runHead(bundle, split, exampleImages(1, 42), 1);
  expected = await runTailLocally(bundle, split, cut);
  replica = await startTestReplica(nats().url, testServiceSettings(nats().prefix, 'sturdy'));
});
afterAll(async () => {
  await replica?.close();
  await nc?.close();
});

interface Case {
  readonly kind: string;
  readonly subject: string;
  readonly payload: Uint8Array;
  /** Codes an error reply may carry; empty for a valid request. */
  readonly codes: readonly WireErrorCode[];
}

function makeCases(count: number): Case[] {
  const random = seededRandom(7);
  const prefix = nats().prefix;
  const at = { model: bundle.model, version: bundle.version, split };
  const subject = tailSubject({ prefix, ...at });
  const valid = inferRequest(at, 'valid', cut);
  const tensor = (overrides: Record<string, MsgpackValue>): MsgpackValue => ({
    name: cut[0]!.name,
    dtype: 'float32',
    dims: [1, 4],
    encoding: 'f32',
    data: new Uint8Array(16),
    ...overrides,
  });
  const request = (overrides: Record<string, MsgpackValue>, tensors: MsgpackValue[] = [tensor({})]) =>
    packMsgpack({ kind: 'infer', v: 1, id: 'bad', ...at, tensors, sentAt: 1, ...overrides });
  const bad = WireErrorCode.BadRequest;
  const makers: (() => Case)[] = [
    () => {
      const payload = Uint8Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256));
      return { kind: 'random bytes', subject, payload, codes: [bad] };
    },
    () => {
      const payload = valid.slice(0, 1 + Math.floor(random() * (valid.length - 2)));
      return { kind: 'truncated msgpack', subject, payload, codes: [bad] };
    },
    () => ({ kind: 'wrong dtype', subject, payload: request({}, [tensor({ dtype: 'float64' })]), codes: [bad] }),
    () => ({
      kind: 'dims not matching bytes',
      subject,
      payload: request({}, [tensor({ dims: [1, 5] })]),
      codes: [bad],
    }),
    () => ({
      kind: 'huge dims',
      subject,
      payload: request({}, [tensor({ dims: [1e9, 1e9, 1e9] })]),
      codes: [WireErrorCode.TooLarge],
    }),
    () => ({ kind: 'negative dims', subject, payload: request({}, [tensor({ dims: [-1, 4] })]), codes: [bad] }),
    () => ({ kind: 'not a map', subject, payload: packMsgpack([1, 2, 3]), codes: [bad] }),
    () => ({ kind: 'wrong kind', subject, payload: packMsgpack({ kind: 'heartbeat', v: 1 }), codes: [bad] }),
    () => ({ kind: 'future protocol', subject, payload: request({ v: 99 }), codes: [WireErrorCode.VersionMismatch] }),
    () => ({ kind: 'no tensors', subject, payload: request({}, []), codes: [bad] }),
    () => ({ kind: 'tensors not fitting the tail', subject, payload: request({}), codes: [bad] }),
    () => ({
      kind: 'unknown model',
      subject: tailSubject({ prefix, ...at, model: `ghost${Math.floor(random() * 4)}` }),
      payload: inferRequest({ ...at, model: 'ghost0' }, 'u', cut),
      codes: [WireErrorCode.UnknownModel, bad],
    }),
    () => {
      const stale = { ...at, version: `v${Math.floor(random() * 4)}stale` };
      return {
        kind: 'stale version',
        subject: tailSubject({ prefix, ...stale }),
        payload: inferRequest(stale, 's', cut),
        codes: [WireErrorCode.VersionMismatch],
      };
    },
    () => ({
      kind: 'short subject',
      subject: `${prefix}.tail.${at.model}.${at.version}`,
      payload: valid,
      codes: [bad],
    }),
    () => ({ kind: 'long subject', subject: `${subject}.extra`, payload: valid, codes: [bad] }),
  ];
  return Array.from({ length: count }, (_, i) =>
    i % 50 === 0
      ? { kind: 'valid', subject, payload: inferRequest(at, `v${i}`, cut), codes: [] }
      : makers[i % makers.length]!(),
  );
}

describe('tail service under malformed input', () => {
  it('answers 10,000 malformed messages with typed errors, drops reply-less ones, and keeps serving', async () => {
    const cases = makeCases(10_250);
    const malformed = cases.filter((c) => c.kind !== 'valid').length;
    expect(malformed).toBeGreaterThanOrEqual(10_000);
    const replies: Message[] = new Array<Message>(cases.length);
    const window = 200;
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i]!;
        const msg = await nc.request(c.subject, c.payload, { timeout: 20_000 });
        replies[i] = decodeMessage(msg.data);
      }
    };
    const withoutReply = 500;
    for (let i = 0; i < withoutReply; i += 1) nc.publish(cases[i + 1]!.subject, cases[i + 1]!.payload);
    await Promise.all(Array.from({ length: window }, worker));

    const unexpected: string[] = [];
    cases.forEach((c, i) => {
      const reply = replies[i]!;
      if (c.kind === 'valid') {
        if (reply.kind !== 'infer_reply') unexpected.push(`${c.kind}: ${JSON.stringify(reply)}`);
        else if (maxAbsDiff(replyLogits(reply), expected) > 1e-4) unexpected.push(`${c.kind}: wrong logits`);
      } else if (reply.kind !== 'error' || !c.codes.includes(reply.code)) {
        unexpected.push(`${c.kind}: ${JSON.stringify(reply)}`);
      }
    });
    expect(unexpected).toEqual([]);

    await nc.flush();
    const stats = replica.service.stats();
    expect(stats.dropped).toBe(withoutReply);
    expect(stats.served).toBe(cases.filter((c) => c.kind === 'valid').length);
    const failedTotal = Object.values(stats.failed).reduce((a, b) => a + b, 0);
    expect(failedTotal).toBe(malformed);
    expect(replica.service.health()).toMatchObject({ live: true, ready: true });
    const ping = await nc.request('$SRV.PING.cleave-tail', undefined, { timeout: 5000 });
    expect(ping.json<{ name: string }>().name).toBe('cleave-tail');
  });
});
