// The one content hash of Cleave: bundle files, manifests, model files and profiles are all named by it.
import { createHash } from 'node:crypto';

/** Lowercase hex sha256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
