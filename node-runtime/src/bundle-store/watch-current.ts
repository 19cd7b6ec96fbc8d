import type { KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { assertToken, DEFAULT_SUBJECT_PREFIX } from '@cleave/proto';
import type { BundleStoreOptions } from './bundle-reader.js';
import { ioError, isStreamNotFound, openCurrentKv } from './store-buckets.js';

/** Options of {@link watchCurrent}. */
export interface WatchCurrentOptions extends BundleStoreOptions {
  /** Watch one model only. @default every model */
  readonly model?: string;
}

/** A change of a model's current version. `version` is undefined when the key was deleted or purged. */
export interface CurrentVersionUpdate {
  readonly model: string;
  readonly version: string | undefined;
  /** KV revision, increasing across the bucket. */
  readonly revision: number;
}

/** Updates of current versions, starting with the value live at call time. Stop with `stop()` or `break`. */
export interface CurrentVersionWatch extends AsyncIterable<CurrentVersionUpdate> {
  stop(): void;
}

/**
 * Watches `${prefix}_current`: yields the current version of each watched model now, then every change. Creates
 * the bucket when it does not exist yet, so an agent may start before the first publish.
 */
export async function watchCurrent(
  nc: NatsConnection,
  options: WatchCurrentOptions = {},
): Promise<CurrentVersionWatch> {
  const prefix = assertToken(options.prefix ?? DEFAULT_SUBJECT_PREFIX, 'prefix');
  const key = options.model === undefined ? '>' : assertToken(options.model, 'model');
  let entries: QueuedIterator<KvWatchEntry>;
  try {
    entries = await (await openCurrentKv(nc, prefix, false)).watch({ key });
  } catch (error) {
    if (!isStreamNotFound(error)) throw ioError('cannot watch current versions', error);
    entries = await (await openCurrentKv(nc, prefix, true)).watch({ key });
  }
  async function* updates(): AsyncGenerator<CurrentVersionUpdate> {
    for await (const entry of entries) {
      yield {
        model: entry.key,
        version: entry.operation === 'PUT' ? entry.string() : undefined,
        revision: entry.revision,
      };
    }
  }
  return {
    stop: () => entries.stop(),
    [Symbol.asyncIterator]: () => updates(),
  };
}
