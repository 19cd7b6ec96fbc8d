import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasetError, parseIdx, readIdxFile } from '../src/datasets/idx-reader.js';
import { loadIdxImagesWithLabels, toUnitFloatBatch } from '../src/datasets/labelled-images.js';

/** Builds IDX bytes: magic 0x0000TTNN, big-endian uint32 dims, then the payload as given. */
function idx(typeByte: number, dims: number[], payload: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint8(2, typeByte);
  header.setUint8(3, dims.length);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d));
  return Buffer.concat([new Uint8Array(header.buffer), payload]);
}

const images = idx(0x08, [2, 2, 3], Uint8Array.from([0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6]));

describe('parseIdx: valid files', () => {
  it('reads uint8 images, raw and gzipped alike', () => {
    for (const bytes of [images, gzipSync(images)]) {
      const arr = parseIdx(bytes);
      expect(arr.dtype).toBe('uint8');
      expect(arr.dims).toEqual([2, 2, 3]);
      expect(Array.from(arr.data)).toEqual([0, 51, 102, 153, 204, 255, 1, 2, 3, 4, 5, 6]);
    }
  });

  it('decodes big-endian int32 and float32 elements', () => {
    const ints = new DataView(new ArrayBuffer(8));
    ints.setInt32(0, -7);
    ints.setInt32(4, 70000);
    expect(Array.from(parseIdx(idx(0x0c, [2], new Uint8Array(ints.buffer))).data)).toEqual([-7, 70000]);
    const floats = new DataView(new ArrayBuffer(4));
    floats.setFloat32(0, 1.5);
    const arr = parseIdx(idx(0x0d, [1], new Uint8Array(floats.buffer)));
    expect(arr.dtype).toBe('float32');
    expect(Array.from(arr.data)).toEqual([1.5]);
  });
});

describe('parseIdx: expected failures', () => {
  it('rejects a wrong magic number, naming the file and the magic', () => {
    const bad = Uint8Array.from(images);
    bad[0] = 0x50; // e.g. a PNG or text file
    expect(() => parseIdx(bad, 'labels.idx')).toThrow(DatasetError);
    expect(() => parseIdx(bad, 'labels.idx')).toThrow(/labels\.idx: not an IDX file \(magic number 0x50000803/);
  });

  it('rejects an unknown element type', () => {
    expect(() => parseIdx(idx(0x42, [1], new Uint8Array(1)))).toThrow(/not an IDX file/);
  });

  it('rejects a truncated payload with the sizes involved', () => {
    const cut = images.subarray(0, images.length - 5);
    expect(() => parseIdx(cut, 'img')).toThrow(/img: truncated: dims \[2, 2, 3\] need 28 bytes, file has 23/);
    try {
      parseIdx(cut);
    } catch (err) {
      expect((err as DatasetError).code).toBe('truncated');
      expect((err as DatasetError).name).toBe('DatasetError');
    }
  });

  it('rejects a truncated header and a truncated gzip stream', () => {
    expect(() => parseIdx(images.subarray(0, 10))).toThrow(/header truncated/);
    expect(() => parseIdx(images.subarray(0, 2))).toThrow(/too short/);
    const gz = gzipSync(images);
    expect(() => parseIdx(gz.subarray(0, gz.length - 12), 'x.gz')).toThrow(
      /x\.gz: gzip stream is truncated or corrupt/,
    );
  });

  it('rejects trailing bytes after the declared data', () => {
    expect(() => parseIdx(Buffer.concat([images, Uint8Array.of(9)]))).toThrow(/1 unexpected trailing bytes/);
  });

  it('reports a missing file as not_found', async () => {
    await expect(readIdxFile('/nonexistent/file.idx')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('labelled images', () => {
  it('pairs images with labels and scales pixels to [0, 1]', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'idx-'));
    await writeFile(join(dir, 'img.gz'), gzipSync(images));
    await writeFile(join(dir, 'lab'), idx(0x08, [2], Uint8Array.of(3, 7)));
    const data = await loadIdxImagesWithLabels(join(dir, 'img.gz'), join(dir, 'lab'));
    expect([data.count, data.height, data.width]).toEqual([2, 2, 3]);
    expect(Array.from(data.labels)).toEqual([3, 7]);
    const batch = toUnitFloatBatch(data, 0, 1);
    expect(batch.length).toBe(6);
    expect(batch[1]).toBeCloseTo(0.2);
    expect(batch[5]).toBe(1);
  });

  it('rejects a label count that does not match the image count', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'idx-'));
    await writeFile(join(dir, 'img'), images);
    await writeFile(join(dir, 'lab'), idx(0x08, [3], Uint8Array.of(1, 2, 3)));
    await expect(loadIdxImagesWithLabels(join(dir, 'img'), join(dir, 'lab'))).rejects.toThrow(/3 labels for 2 images/);
  });
});
