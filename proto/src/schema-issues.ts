import type { z } from 'zod';

/**
 * Formats a path into a value as `a.b.0.c`, quoting segments that are not plain identifiers or indexes
 * (`files["heads/cut 2.onnx"]`), so a path stays readable whatever the keys contain.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    const text = typeof segment === 'symbol' ? segment.toString() : String(segment);
    out += /^[A-Za-z_$][\w$]*$|^\d+$/.test(text) ? `${out === '' ? '' : '.'}${text}` : `[${JSON.stringify(text)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** Formats one zod issue as `path: message`, the form every schema error of this package uses. */
export function formatIssue(issue: z.core.$ZodIssue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}
