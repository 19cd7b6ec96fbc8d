// The worker thread that owns every onnxruntime session. onnxruntime-node runs inference synchronously on the
// calling thread, so running it here keeps the service's event loop free to take requests, shed load and answer
// health probes while a batch runs.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { isTensorDtype } from '@cleave/proto';
import type { ExecutorReply, ExecutorRequest, OrtSessionSettings } from './executor-protocol.js';
import type { NamedTensor, TensorSlot } from './tensor-batch.js';

const settings = workerData as OrtSessionSettings;
const sessions = new Map<number, ort.InferenceSession>();
let nextSession = 1;

const port = parentPort;
if (port === null) throw new Error('ort-worker.js must run as a worker thread');

port.on('message', (request: ExecutorRequest) => {
  void handle(request).then(
    (reply) => {
      try {
        port.postMessage(reply, reply.ok && reply.outputs ? transferables(reply.outputs) : []);
      } catch {
        port.postMessage(reply); // a buffer onnxruntime owns cannot be detached: copy it instead
      }
    },
    (error: unknown) => {
      const reply: ExecutorReply = { id: request.id, ok: false, error: (error as Error).message ?? String(error) };
      port.postMessage(reply);
    },
  );
});

async function handle(request: ExecutorRequest): Promise<ExecutorReply> {
  switch (request.op) {
    case 'load': {
      const options: ort.InferenceSession.SessionOptions = {
        intraOpNumThreads: settings.intraOpNumThreads,
        interOpNumThreads: settings.interOpNumThreads,
        // The bundle's level, so the tail computes what the same tail computes on the edge.
        graphOptimizationLevel: request.options?.graphOptimizationLevel ?? 'all',
        enableCpuMemArena: settings.memoryArena ?? false,
        enableMemPattern: settings.memoryArena ?? false,
        extra: { session: { intra_op: { allow_spinning: settings.allowSpinning ? '1' : '0' } } },
      };
      // By path, onnxruntime finds external weights beside the graph file (see ExecutorRequest).
      const session =
        typeof request.model === 'string'
          ? await ort.InferenceSession.create(request.model, options)
          : await ort.InferenceSession.create(request.model, options);
      const id = nextSession++;
      sessions.set(id, session);
      const loaded = {
        session: id,
        inputs: session.inputMetadata.map(slot),
        outputs: session.outputMetadata.map(slot),
      };
      return { id: request.id, ok: true, loaded };
    }
    case 'run': {
      const session = sessions.get(request.session);
      if (session === undefined) throw new Error(`session ${request.session} is not loaded`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const feed of request.feeds) feeds[feed.name] = new ort.Tensor(feed.dtype, feed.data, [...feed.dims]);
      const fetches = request.fetches ?? session.outputNames;
      const results = await session.run(feeds, [...fetches]);
      const outputs = fetches.map((name) => toNamed(name, results[name]!));
      return { id: request.id, ok: true, outputs };
    }
    case 'unload': {
      const session = sessions.get(request.session);
      sessions.delete(request.session);
      await session?.release();
      return { id: request.id, ok: true };
    }
  }
}

function slot(meta: ort.InferenceSession.ValueMetadata): TensorSlot {
  if (!meta.isTensor) return { name: meta.name, dtype: 'non-tensor', shape: [] };
  return { name: meta.name, dtype: meta.type, shape: meta.shape.map((d) => (typeof d === 'number' ? d : String(d))) };
}

function toNamed(name: string, tensor: ort.OnnxValue): NamedTensor {
  const dims = [...tensor.dims];
  // onnxruntime hands each wire dtype back in the typed array the registry names for it (bool as one byte each).
  if (isTensorDtype(tensor.type)) return { name, dtype: tensor.type, dims, data: tensor.data as NamedTensor['data'] };
  throw new Error(`output "${name}" has dtype ${tensor.type}, which the wire cannot carry`);
}

function transferables(tensors: readonly NamedTensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of tensors) if (t.data.buffer instanceof ArrayBuffer) buffers.add(t.data.buffer);
  return [...buffers];
}
