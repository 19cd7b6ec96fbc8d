// One answer whatever the path, on the product brief's model families (exported by models/zoo/export_families.py
// with seeded weights, so not designed around Cleave's example): each is partitioned, then served by a real agent
// and a real replica, and every output of edge-only, a split finished in the cloud, cloud-only, and the split's fallback
// (replica gone) matches the full model in onnxruntime within 1e-4 relative.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ensureFamilyModel, partitionForServing, serveAndCompare, useTestNats } from '../harness/mod.js';

const FAMILIES = ['tiny_yolov2', 'espnet_seg', 'posenet', 'ds_cnn_kws', 'text_encoder', 'binarized_net'] as const;

const nats = useTestNats();
let admin: NatsConnection;

beforeAll(async () => {
  admin = await connect({ servers: nats().url });
});
afterAll(async () => {
  await admin?.close();
});

describe('model families served end to end', () => {
  it.each(FAMILIES)(
    '%s: every output is the same on edge-only, a split in the cloud, cloud-only and fallback',
    async (name) => {
      const path = await ensureFamilyModel(name);
      const dir = await mkdtemp(join(tmpdir(), `family-${name}-`));
      const modelId = name.replaceAll('_', '-');
      const bundle = await partitionForServing(path, dir, { modelId });
      // onnxruntime fuses tiny-YOLO's zero Pad into its stride-1 MaxPool (padding with -inf instead), which moves the
      // full model's output by percents but not a split's at that Pad; the partitioner found the level where all agree.
      expect(bundle.manifest.model.sessionOptions?.graphOptimizationLevel).toBe(
        name === 'tiny_yolov2' ? 'disabled' : undefined,
      );
      await serveAndCompare({ admin, ...nats() }, bundle, modelId);
    },
    240_000,
  );
});
