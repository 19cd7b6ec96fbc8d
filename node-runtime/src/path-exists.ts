import { access } from 'node:fs/promises';

/** True when `path` exists (any kind of entry); false on any error, since callers only choose a branch by it. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
