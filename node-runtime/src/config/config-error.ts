// The configuration errors of the daemons' shared settings (the `nats` section, credential files, the config file).
import { readFile } from 'node:fs/promises';
import { InvalidConfigError } from '@cleave/proto';

/** The configuration is invalid. `issues` lists every problem, each naming its field and source. */
export class ConfigError extends InvalidConfigError {
  override readonly name: string = 'ConfigError';
}

/** A config file's text, or why it could not be read (reported with the other problems, not thrown). */
export type ConfigFileText =
  { readonly path: string; readonly text: string } | { readonly path: string; readonly error: string };

/** Reads the config file at `path` for `resolveLayeredConfig`; a missing or unreadable file becomes a problem. */
export async function readConfigText(path: string): Promise<ConfigFileText> {
  try {
    return { path, text: await readFile(path, 'utf8') };
  } catch (error) {
    return { path, error: (error as Error).message };
  }
}
