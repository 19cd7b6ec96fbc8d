// bench:exits reads the task: no curve where exits cannot answer, and the right name for what the curve measures.
import { describe, expect, it } from 'vitest';
import { conventionalExits, curveMetric, markdownTable, splitsOnlyReason } from './exit-curve-report.js';

describe('exit-curve report', () => {
  it('runs the curve only for a task with a confidence, one final output and some exits', () => {
    expect(splitsOnlyReason('classification', ['logits'], ['exit_1'])).toBeNull();
    expect(splitsOnlyReason('segmentation', ['mask'], ['exit_1'])).toBeNull();
    for (const task of ['detection', 'dense', 'sequence', 'other'] as const) {
      expect(splitsOnlyReason(task, ['out'], ['exit_1'])).toBe(`splits only (no early exits for ${task} models)`);
    }
    expect(splitsOnlyReason('classification', ['logits', 'embedding'], ['exit_1'])).toContain('2 final outputs');
    expect(splitsOnlyReason('segmentation', ['mask'], [])).toMatch(/^splits only/);
  });

  it('names the metric after the task and the reference', () => {
    expect(curveMetric('classification', 'labels')).toBe('accuracy');
    expect(curveMetric('segmentation', 'labels')).toBe('pixel accuracy');
    expect(curveMetric('classification', 'agreement')).toBe('agreement with the full model');
    expect(curveMetric('segmentation', 'agreement')).toBe('agreement with the full model');
  });

  it('finds exits by the naming convention, never every output', () => {
    expect(conventionalExits(['exit_1', 'exit_2', 'logits'])).toEqual(['exit_1', 'exit_2']);
    expect(conventionalExits(['exit_only'])).toEqual([]);
    expect(markdownTable(['a', 'bb'], [['xyz', '1']])).toEqual(['| a   | bb |', '|-----|----|', '| xyz | 1  |']);
  });
});
