// Threat: protocol edges. 20,000 fuzzed requests to a replica's tail subject (NATS headers whose names hold a space,
// a control byte or a non-ASCII byte, odd header values, random and truncated msgpack, flipped bytes, wrong dtypes,
// shapes, encodings and limits), with valid requests interleaved: every request with a reply subject is answered,
// the malformed headers with `bad_request`, the valid requests with the right outputs, and the error replies are
// counted in $SRV.STATS. The edge agent's NATS API answers malformed headers too, and stays up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import {
  agentInferSubject,
  DEADLINE_HEADER,
  decodeMessage,
  type Message,
  seededRandom,
  tailSubject,
  WireErrorCode,
} from '@cleave/proto';
import {
  exampleImages,
  inferRequest,
  maxAbsDiff,
  type MsgpackValue,
  packMsgpack,
  replyLogits,
  runTailLocally,
  type TestBundle,
  useTestNats,
} from '../harness/mod.js';
import { type SplitRig, startSplitRig } from '../harness/split-rig.js';

const FUZZED = 20_000;
// Below the test replica's queue bound (256), so no valid request is refused `overloaded`.
const WINDOW = 200;

const nats = useTestNats();
let nc: NatsConnection;
let bundle: TestBundle;
let replica: SplitRig['replica'];
let split: string;
let cut: SplitRig['cut'];
let expected: Float32Array;

let rig: SplitRig;

beforeAll(async () => {
  rig = await startSplitRig(nats(), 'fuzzed');
  ({ nc, bundle, split, cut, replica } = rig);
  expected = await runTailLocally(bundle, split, cut);
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

/**
 * Header bytes sent exactly as given. nats.js refuses to build a header whose name it finds invalid, but it only
 * calls `encode()` on what it sends, and nats-server forwards header blocks as they are: so do other clients.
 */
function rawHeaders(text: string): MsgHdrs {
  const bytes = new TextEncoder().encode(text);
  return { encode: () => bytes } as unknown as MsgHdrs;
}

interface Case {
  readonly kind: string;
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly headers?: MsgHdrs;
  /** Codes an error reply may carry; `ok` means outputs are expected (and may be listed beside error codes). */
  readonly accept: readonly (WireErrorCode | 'ok')[];
}

function makeCases(count: number): Case[] {
  const random = seededRandom(14);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const prefix = nats().prefix;
  const at = { model: bundle.model, version: bundle.version, split };
  const subject = tailSubject({ prefix, ...at });
  const valid = inferRequest(at, 'valid', cut);
  const elements = cut[0]!.data.length;
  const tensor = (overrides: Record<string, MsgpackValue>): MsgpackValue => ({
    name: cut[0]!.name,
    dtype: 'float32',
    dims: cut[0]!.dims,
    encoding: 'f32',
    data: new Uint8Array(cut[0]!.data.buffer.slice(0)),
    ...overrides,
  });
  const request = (tensors: MsgpackValue[], overrides: Record<string, MsgpackValue> = {}) =>
    packMsgpack({ kind: 'infer', v: 1, id: 'fuzz', ...at, tensors, sentAt: 1, ...overrides });
  const bad = WireErrorCode.BadRequest;
  const tooLarge = WireErrorCode.TooLarge;
  // Header names nats.js cannot parse: a space, a control byte, a non-ASCII byte, a DEL, a tab.
  const badNames = ['Bad Name', 'Ctl\x01Name', 'Caf\u00e9', 'Del\x7fName', 'Tab\tName', 'Snow\u2603', ' Lead'];
  const headerCase = (kind: string, text: string, accept: Case['accept']): Case => ({
    kind,
    subject,
    payload: valid,
    headers: rawHeaders(text),
    accept,
  });
  const makers: (() => Case)[] = [
    () => headerCase('header name with a bad byte', `NATS/1.0\r\n${pick(badNames)}: x\r\n\r\n`, [bad]),
    () =>
      headerCase(
        'bad header name after a good one',
        `NATS/1.0\r\ntraceparent: 00-x\r\n${pick(badNames)}: ${random()}\r\n\r\n`,
        [bad],
      ),
    () => headerCase('header line without a colon', 'NATS/1.0\r\njust words\r\n\r\n', ['ok']),
    () => headerCase('odd status line', `NATS/1.0 ${Math.floor(random() * 999)} what\r\n\r\n`, ['ok']),
    () =>
      headerCase(
        'garbage deadline header',
        `NATS/1.0\r\n${DEADLINE_HEADER}: ${pick(['abc', '-5', '1e400', ''])}\r\n\r\n`,
        ['ok', bad],
      ),
    () => headerCase('non-ASCII header value', 'NATS/1.0\r\nX-Note: caf\u00e9 \u2603\r\n\r\n', ['ok']),
    () =>
      headerCase('expired deadline header', `NATS/1.0\r\n${DEADLINE_HEADER}: 1\r\n\r\n`, [
        WireErrorCode.DeadlineExceeded,
      ]),
    () => ({
      kind: 'random bytes',
      subject,
      payload: Uint8Array.from({ length: Math.floor(random() * 400) }, () => Math.floor(random() * 256)),
      accept: [bad],
    }),
    () => ({
      kind: 'truncated msgpack',
      subject,
      payload: valid.slice(0, 1 + Math.floor(random() * (valid.length - 2))),
      accept: [bad],
    }),
    () => {
      const flipped = valid.slice();
      for (let i = 0; i < 3; i += 1) {
        const at = Math.floor(random() * flipped.length);
        flipped[at] = flipped[at]! ^ (1 << Math.floor(random() * 8));
      }
      // A flip inside the tensor bytes still makes a valid (if different) request, or a non-finite one; one in `v`
      // another protocol version.
      return {
        kind: 'flipped bits',
        subject,
        payload: flipped,
        accept: ['ok', bad, tooLarge, WireErrorCode.VersionMismatch],
      };
    },
    () => ({
      kind: 'wrong dtype',
      subject,
      payload: request([tensor({ dtype: pick(['int64', 'float64', 'x']) })]),
      accept: [bad],
    }),
    () => ({ kind: 'wrong shape', subject, payload: request([tensor({ dims: [1, elements, 1] })]), accept: [bad] }),
    () => ({
      kind: 'lying dims',
      subject,
      payload: request([tensor({ dims: [2, ...cut[0]!.dims.slice(1)] })]),
      accept: [bad],
    }),
    () => ({ kind: 'unknown encoding', subject, payload: request([tensor({ encoding: 'f64' })]), accept: [bad] }),
    () => ({ kind: 'huge dims', subject, payload: request([tensor({ dims: [1e9, 1e9, 1e9] })]), accept: [tooLarge] }),
    () => ({
      kind: 'too many tensors',
      subject,
      payload: request(Array.from({ length: 65 }, (_, i) => tensor({ name: `t${i}` }))),
      accept: [tooLarge],
    }),
    () => ({
      kind: 'tensor name with control and non-ASCII bytes',
      subject,
      payload: request([tensor({ name: `in\x00put \u00e9\u2603` })]),
      accept: [bad],
    }),
    () => ({ kind: 'no tensors', subject, payload: request([]), accept: [bad] }),
    () => ({ kind: 'not a map', subject, payload: packMsgpack([1, 'two', null]), accept: [bad] }),
    () => ({
      kind: 'future protocol',
      subject,
      payload: request([tensor({})], { v: 99 }),
      accept: [WireErrorCode.VersionMismatch],
    }),
  ];
  return Array.from({ length: count }, (_, i) =>
    i % 40 === 0
      ? { kind: 'valid', subject, payload: inferRequest(at, `v${i}`, cut), accept: ['ok'] }
      : makers[i % makers.length]!(),
  );
}

describe('threat: fuzzed tail requests', () => {
  it('answers every one of 20,000 fuzzed requests, malformed headers with bad_request, and counts the errors', async () => {
    const cases = makeCases(FUZZED);
    const replies: (Message | string)[] = new Array<Message | string>(cases.length);
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const i = next++;
        const c = cases[i]!;
        try {
          const msg = await nc.request(c.subject, c.payload, {
            timeout: 15_000,
            ...(c.headers === undefined ? {} : { headers: c.headers }),
          });
          replies[i] = decodeMessage(msg.data);
        } catch (error) {
          replies[i] = `no reply: ${(error as Error).message}`;
        }
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, worker));
    const seconds = (performance.now() - started) / 1000;

    const unanswered = replies.filter((r) => typeof r === 'string').length;
    const byKind = new Map<string, { total: number; codes: Map<string, number> }>();
    const unexpected: string[] = [];
    cases.forEach((c, i) => {
      const reply = replies[i]!;
      const outcome = typeof reply === 'string' ? 'no reply' : reply.kind === 'error' ? reply.code : 'ok';
      const entry = byKind.get(c.kind) ?? { total: 0, codes: new Map<string, number>() };
      entry.total += 1;
      entry.codes.set(outcome, (entry.codes.get(outcome) ?? 0) + 1);
      byKind.set(c.kind, entry);
      if (!(c.accept as readonly string[]).includes(outcome)) {
        unexpected.push(`${c.kind}: ${typeof reply === 'string' ? reply : JSON.stringify(reply).slice(0, 300)}`);
      } else if (c.kind === 'valid' && maxAbsDiff(replyLogits(reply as Message), expected) > 1e-4) {
        unexpected.push('valid: wrong logits');
      }
    });
    const badHeaders = cases.filter((c) => c.kind.includes('bad header') || c.kind.includes('bad byte')).length;
    const stats = await nc.request(`$SRV.STATS.cleave-tail.${replica.service.id}`, undefined, { timeout: 5000 });
    const endpoint = stats.json<{ endpoints: { num_errors: number; num_requests: number }[] }>().endpoints[0]!;
    const errorReplies = replies.filter((r) => typeof r !== 'string' && r.kind === 'error').length;

    console.log(
      `fuzz: answered ${cases.length - unanswered} of ${cases.length} in ${seconds.toFixed(1)} s ` +
        `(${badHeaders} with malformed header names); unexpected ${unexpected.length}; ` +
        `$SRV.STATS num_errors ${endpoint.num_errors} for ${errorReplies} error replies, ` +
        `num_requests ${endpoint.num_requests}`,
    );
    for (const [kind, { total, codes }] of byKind) {
      console.log(`  ${kind}: ${total} → ${[...codes].map(([code, n]) => `${code} ${n}`).join(', ')}`);
    }
    expect(unanswered).toBe(0);
    expect(unexpected).toEqual([]);
    expect(endpoint.num_errors).toBe(errorReplies);
    expect(replica.service.health()).toMatchObject({ live: true, ready: true });
  }, 180_000);

  it("answers malformed headers on the edge agent's NATS API, and the agent stays up", async () => {
    const subject = agentInferSubject(nats().prefix, 'gw-test', 'fmnist');
    const body = JSON.stringify({ inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(exampleImages(1, 5)) } } });
    const names = ['Bad Name', 'Ctl\x01Name', 'Caf\u00e9', 'Del\x7fName'];
    const replies = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const msg = await nc.request(subject, body, {
          timeout: 10_000,
          headers: rawHeaders(`NATS/1.0\r\n${names[i % names.length]}: ${i}\r\n\r\n`),
        });
        return JSON.parse(msg.string()) as { error?: { code: string; message: string } };
      }),
    );
    const refused = replies.filter((r) => r.error?.code === 'bad_body').length;
    const after = JSON.parse((await nc.request(subject, body, { timeout: 10_000 })).string()) as { outputs?: unknown };
    console.log(
      `edge NATS API: malformed headers answered bad_body ${refused} of 200; a clean request after: ${after.outputs ? 'served' : 'failed'}`,
    );
    expect(refused).toBe(200);
    expect(replies[0]!.error!.message).toMatch(/NATS headers are malformed/);
    expect(after.outputs).toBeDefined();
  }, 60_000);
});
