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

/** Shows an untrusted value in a problem message: short strings quoted, numbers as they are, others by their kind. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return typeof value === 'bigint' ? `${value}n` : Array.isArray(value) ? 'an array' : typeof value;
}
