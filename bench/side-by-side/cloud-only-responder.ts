/**
 * The cloud-only baselines' server: a bench-local NATS responder that runs the whole model on what the device
 * sent, either the raw f32 input tensor (little-endian bytes, no envelope) or a PNG file it decodes first. It
 * replies with every final output, as Cleave does: their elements one after the other, little-endian, no envelope
 * (see splitRawReply; one float32 output is exactly its f32 bytes). It runs unthrottled in the bench process, like
 * the Cleave cloud replica.
 */
import ort from 'onnxruntime-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodePngToTensor, type InputKind } from './bench-images.js';

/** Subject of a cloud-only baseline for a model and an input format. */
export function cloudOnlySubject(prefix: string, model: string, format: 'raw' | 'png'): string {
  return `${prefix}.bench.cloud-only.${model}.${format}`;
}

/** A model the responder serves. */
export interface CloudOnlyModel {
  readonly id: string;
  readonly path: string;
  readonly kind: InputKind;
  readonly inputName: string;
  readonly dims: readonly number[];
  /** The model's final outputs, in reply order: matched by name, else by position in the session's outputs. */
  readonly outputs: readonly string[];
}

/** Starts one responder per (model, format); `close()` unsubscribes and releases the sessions. */
export async function startCloudOnlyResponder(
  nc: NatsConnection,
  prefix: string,
  models: readonly CloudOnlyModel[],
): Promise<{ close(): Promise<void> }> {
  const subs: Subscription[] = [];
  const sessions: ort.InferenceSession[] = [];
  for (const model of models) {
    const session = await ort.InferenceSession.create(model.path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    sessions.push(session);
    const names = session.outputNames;
    const outputs = model.outputs.map((name, i) => {
      const found = names.includes(name) ? name : names.length === model.outputs.length ? names[i] : undefined;
      if (found === undefined) throw new Error(`${model.path}: no output '${name}' (outputs: ${names.join(', ')})`);
      return found;
    });
    for (const format of ['raw', 'png'] as const) {
      const sub = nc.subscribe(cloudOnlySubject(prefix, model.id, format), {
        callback: (err, msg) => {
          if (err) return;
          const run = async (): Promise<void> => {
            const body = msg.data;
            const input =
              format === 'png'
                ? decodePngToTensor(body, model.kind)
                : new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
            const out = await session.run({ [model.inputName]: new ort.Tensor('float32', input, model.dims) });
            const parts = outputs.map((name) => {
              const data = out[name]!.data as Float32Array | BigInt64Array | Int32Array | Uint8Array;
              return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
            });
            const reply = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
            parts.reduce((at, p) => (reply.set(p, at), at + p.byteLength), 0);
            msg.respond(reply);
          };
          run().catch(() => msg.respond(new Uint8Array(0)));
        },
      });
      subs.push(sub);
    }
  }
  return {
    async close() {
      for (const s of subs) s.unsubscribe();
      for (const s of sessions) await s.release();
    },
  };
}
