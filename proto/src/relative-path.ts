// Bundle files are addressed by relative paths in the manifest, on disk and in the object store. One canonical
// spelling per file keeps those lookups exact and keeps a hostile manifest from escaping the bundle directory.

/** What {@link isSafeRelativePath} accepts, for error messages. */
export const SAFE_RELATIVE_PATH_RULE =
  "must be a relative '/'-separated path without empty, '.' or '..' segments, backslashes, drive letters or control characters";

/** True for a canonical relative path such as `head.onnx` or `exits/e1.onnx`: see {@link SAFE_RELATIVE_PATH_RULE}. */
export function isSafeRelativePath(path: unknown): path is string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 1024) return false;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is rejected here
  if (/[\\\u0000-\u001f\u007f]/.test(path) || /^[A-Za-z]:/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
