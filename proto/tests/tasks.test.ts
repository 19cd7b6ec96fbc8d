import { describe, expect, it } from 'vitest';
import { inferTask, isTask, taskHasConfidence, TASKS } from '../src/mod.js';

const image = (c: number, h: number, w: number) => ({ dtype: 'float32', shape: ['N', c, h, w] });
const out = (...shape: (number | string)[]) => ({ dtype: 'float32', shape });

describe('inferTask', () => {
  it('reads class logits as classification', () => {
    expect(inferTask([image(3, 224, 224)], [out('N', 1000)])).toBe('classification');
  });

  it('reads per-pixel logits at (near) the input resolution as segmentation', () => {
    expect(inferTask([image(3, 128, 256)], [out('N', 19, 128, 256)])).toBe('segmentation');
    expect(inferTask([image(3, 128, 256)], [out('N', 19, 32, 64)])).toBe('segmentation');
  });

  it('reads a coarse grid as detection', () => {
    expect(inferTask([image(3, 416, 416)], [out('N', 125, 13, 13)])).toBe('detection');
  });

  it('reads several final outputs as other, and token-in sequence-out as sequence', () => {
    expect(inferTask([image(3, 224, 224)], [out('N', 17, 14, 14), out('N', 34, 14, 14)])).toBe('other');
    expect(inferTask([{ dtype: 'int64', shape: ['N', 64] }], [out('N', 64, 192)])).toBe('sequence');
  });

  it('falls back to dense for other float maps and other for integer outputs', () => {
    expect(inferTask([image(3, 64, 64)], [out('N', 1, 64, 64)])).toBe('dense');
    expect(inferTask([image(3, 64, 64)], [{ dtype: 'int64', shape: ['N', 10] }])).toBe('other');
  });
});

describe('task registry', () => {
  it('knows which tasks have a confidence', () => {
    expect(TASKS.filter(taskHasConfidence)).toEqual(['classification', 'segmentation']);
    expect(isTask('detection')).toBe(true);
    expect(isTask('regression')).toBe(false);
  });
});
