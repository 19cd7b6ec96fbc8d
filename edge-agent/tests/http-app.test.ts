// The HTTP layer alone, through `app.request` (no socket). The service behind it is a small stand-in that
// validates inputs with the real checker; the real agent is exercised by the integration suite.
import { describe, expect, it } from 'vitest';
import type { InferService } from '../src/agent-types.js';
import { createHttpApp } from '../src/api/http-app.js';
import { MSGPACK_CONTENT_TYPE, packBody, unpackBody } from '../src/api/infer-body.js';
import { EdgeAgentError, EdgeErrorCode } from '../src/edge-agent-error.js';
import type { InferResult } from '../src/runtime/inference-pipeline.js';
import { checkInputs } from '../src/runtime/input-validation.js';

const specs = [{ name: 'x', dtype: 'float32', shape: ['N', 3] }];

function stubService(): InferService & { calls: number } {
  const service = {
    calls: 0,
    infer(model: string, inputs: Parameters<InferService['infer']>[1]): Promise<InferResult> {
      service.calls += 1;
      if (model === 'broken') throw new Error('onnxruntime exploded');
      if (model !== 'm') throw new EdgeAgentError(EdgeErrorCode.UnknownModel, `model "${model}" is not served here`);
      const [x] = checkInputs(specs, inputs, { maxElements: 1000 });
      const doubled = Float32Array.from(x!.data as Float32Array, (v) => v * 2);
      return Promise.resolve({
        id: 'r1',
        model,
        version: 'v1',
        tailVersion: null,
        split: 'edge-only',
        codec: null,
        objective: 'latency',
        exit: null,
        ranOn: 'edge',
        fallbackReason: null,
        outputs: [{ name: 'y', dtype: 'float32', dims: x!.dims, data: doubled }],
        timings: {
          totalMs: 1,
          headMs: 1,
          encodeMs: 0,
          networkMs: 0,
          cloudQueueMs: 0,
          cloudMs: 0,
          decodeMs: 0,
          tailMs: 0,
          wastedMs: 0,
        },
        bytes: { sent: 0, received: 0 },
        replica: null,
      });
    },
    health: () => ({ live: true, ready: false, reasons: ['model m has no bundle yet'] }),
    status: () => ({ agentId: 'a' }) as never,
    modelStatus: (model: string) => (model === 'm' ? ({ model } as never) : undefined),
  };
  return service;
}

const post = (
  app: ReturnType<typeof createHttpApp>,
  model: string,
  body: string | Uint8Array,
  type = 'application/json',
) => app.request(`/v1/models/${model}/infer`, { method: 'POST', body, headers: { 'content-type': type } });

describe('local HTTP API', () => {
  it('answers JSON with outputs, exit, split and where the rest ran', async () => {
    const app = createHttpApp({ service: stubService(), maxBodyBytes: 1024 });
    const res = await post(app, 'm', JSON.stringify({ inputs: { x: { dims: [1, 3], data: [1, 2, 3] } } }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ split: 'edge-only', ranOn: 'edge', exit: null, version: 'v1' });
    expect(body['outputs']).toEqual({ y: { dtype: 'float32', dims: [1, 3], data: [2, 4, 6] } });
  });

  it('answers msgpack with tensor bytes when asked in msgpack', async () => {
    const app = createHttpApp({ service: stubService(), maxBodyBytes: 1024 });
    const data = new Uint8Array(Float32Array.of(1, 2, 3).buffer);
    const res = await post(app, 'm', packBody({ inputs: { x: { dims: [1, 3], data } } }), MSGPACK_CONTENT_TYPE);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MSGPACK_CONTENT_TYPE);
    const body = unpackBody(new Uint8Array(await res.arrayBuffer())) as { outputs: { y: { data: Uint8Array } } };
    const y = body.outputs.y.data;
    expect(Array.from(new Float32Array(y.slice().buffer))).toEqual([2, 4, 6]);
  });

  describe('expected failures: a 4xx or 5xx with a clear message, and the app keeps serving', () => {
    it.each([
      ['malformed JSON', 'm', '{"inputs": ', 400, 'bad_body', /not valid JSON/],
      ['no inputs', 'm', '{}', 400, 'bad_body', /"inputs" must be an object/],
      ['bad deadline', 'm', '{"inputs": {}, "deadlineMs": -1}', 400, 'bad_body', /"deadlineMs"/],
      ['wrong shape', 'm', '{"inputs": {"x": {"dims": [1, 4], "data": [1,2,3,4]}}}', 400, 'bad_shape', /\[N, 3\]/],
      [
        'wrong dtype',
        'm',
        '{"inputs": {"x": {"dims": [1, 3], "dtype": "int64", "data": [1,2,3]}}}',
        400,
        'bad_dtype',
        /float32/,
      ],
      ['unknown model', 'nope', '{"inputs": {}}', 404, 'unknown_model', /"nope" is not served/],
      ['agent fault', 'broken', '{"inputs": {}}', 500, 'internal', /onnxruntime exploded/],
    ])('%s', async (_name, model, body, status, code, message) => {
      const service = stubService();
      const app = createHttpApp({ service, maxBodyBytes: 1024 });
      const res = await post(app, model, body);
      expect(res.status).toBe(status);
      const json = (await res.json()) as { error: { code: string; status: number; message: string } };
      expect(json.error.code).toBe(code);
      expect(json.error.status).toBe(status);
      expect(json.error.message).toMatch(message);
      const again = await post(app, 'm', JSON.stringify({ inputs: { x: { dims: [1, 3], data: [0, 0, 1] } } }));
      expect(again.status).toBe(200);
    });

    it('a body over the limit is refused with 413 before the service sees it', async () => {
      const service = stubService();
      const app = createHttpApp({ service, maxBodyBytes: 64 });
      const res = await post(
        app,
        'm',
        JSON.stringify({ inputs: { x: { dims: [1, 3], data: new Array(100).fill(1) } } }),
      );
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('too_large');
      expect(service.calls).toBe(0);
    });
  });

  it('reports liveness and readiness with reasons', async () => {
    const app = createHttpApp({ service: stubService(), maxBodyBytes: 1024 });
    expect((await app.request('/livez')).status).toBe(200);
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'not ready', reasons: ['model m has no bundle yet'] });
    expect((await app.request('/v1/models/zzz')).status).toBe(404);
    expect((await app.request('/metrics')).status).toBe(404);
  });
});
