// Opening the object store and the KV bucket, and reading one object whole. Buckets are created only by the
// publisher; readers treat a missing bucket as "nothing published yet" and try again on the next call.
import { createHash } from 'node:crypto';
import {
  type Consumer,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { bucketNames } from '@cleave/proto';
import { BundleStoreError, BundleStoreErrorCode, isBundleStoreError } from './bundle-store-error.js';
import { cancelledError } from './download-pacer.js';

/** Versions of a model's current-version key kept in KV, so a rollback can see what was live before. */
const CURRENT_HISTORY = 16;

/** Opens the bundles object store; creates it when `create`, else returns undefined when it does not exist. */
export async function openObjectStore(
  nc: NatsConnection,
  prefix: string,
  create: boolean,
): Promise<ObjectStore | undefined> {
  const name = bucketNames(prefix).bundles;
  const objm = new Objm(nc);
  try {
    return create ? await objm.create(name, { storage: StorageType.File }) : await objm.open(name);
  } catch (error) {
    if (!create && /not found/i.test((error as Error).message)) return undefined;
    throw ioError(`cannot open object store ${name}`, error);
  }
}

/** Opens the current-version KV bucket; creates it when `create`. Reads report a missing bucket themselves. */
export async function openCurrentKv(nc: NatsConnection, prefix: string, create: boolean): Promise<KV> {
  const name = bucketNames(prefix).current;
  const kvm = new Kvm(nc);
  try {
    return create ? await kvm.create(name, { history: CURRENT_HISTORY }) : await kvm.open(name);
  } catch (error) {
    throw ioError(`cannot open KV bucket ${name}`, error);
  }
}

/**
 * Opens the heartbeat bucket, creating it when missing, and turns rollup headers off when whoever created it left
 * them on: an agent may write only its own key, and a `Nats-Rollup: all` header on that key would otherwise purge
 * every agent's heartbeat. Heartbeats never need a rollup (they are single-history puts). Where the caller may not
 * update streams (a provisioned deployment, see deploy/nats/streams), the bucket is used as it is.
 */
export async function openHeartbeatKv(nc: NatsConnection, prefix: string): Promise<KV> {
  const name = bucketNames(prefix).heartbeats;
  let kv: KV;
  try {
    // On an existing bucket this only reads the stream's info; it never changes the configuration.
    kv = await new Kvm(nc).create(name, { history: 1 });
  } catch (error) {
    throw ioError(`cannot open KV bucket ${name}`, error);
  }
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `KV_${name}`;
    const { config } = await jsm.streams.info(stream);
    if (config.allow_rollup_hdrs) await jsm.streams.update(stream, { ...config, allow_rollup_hdrs: false });
  } catch {
    // No permission to read or update the stream: it was provisioned by an operator, who owns its settings.
  }
  return kv;
}

/** Name of the stream that keeps every agent's heartbeats for a day: `HISTORY_<prefix>_heartbeats`. */
export function heartbeatHistoryStream(prefix: string): string {
  return `HISTORY_${bucketNames(prefix).heartbeats}`;
}

/** How long the history keeps heartbeats, and how many per agent (a day at the default 5 s interval). */
export const HEARTBEAT_HISTORY_LIMITS = {
  maxAgeMs: 24 * 60 * 60 * 1000,
  perAgent: 17_280,
  /** Oldest heartbeats go first past this, so a large fleet keeps a shorter history instead of refusing writes. */
  maxBytes: 4 * 1024 ** 3,
} as const;

/**
 * Makes sure the heartbeat history exists: a stream that MIRRORS the heartbeat bucket's stream. A mirror keeps the
 * subjects as written (`$KV.<prefix>_heartbeats.<agentId>`, one per agent, and only that agent may write there), so
 * agents and their permissions are unchanged, and it has its own limits (24 h, a day of beats per agent) where the
 * bucket keeps one value per key. A mirror has no subjects of its own: nobody can publish into it, so the history
 * is exactly what agents wrote to their own keys. Returns the stream's name. Opens (creates) the bucket first, so the
 * mirror's origin exists; an existing history (e.g. provisioned from deploy/nats/streams) is left as it is.
 */
export async function openHeartbeatHistory(nc: NatsConnection, prefix: string): Promise<string> {
  const origin = `KV_${bucketNames(prefix).heartbeats}`;
  const name = heartbeatHistoryStream(prefix);
  try {
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.info(name);
      return name;
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
    }
    await openHeartbeatKv(nc, prefix);
    await jsm.streams.add({
      name,
      description: `Heartbeat history: a mirror of ${origin}, one subject per agent, kept for 24 h`,
      mirror: { name: origin },
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(HEARTBEAT_HISTORY_LIMITS.maxAgeMs),
      max_msgs_per_subject: HEARTBEAT_HISTORY_LIMITS.perAgent,
      max_bytes: HEARTBEAT_HISTORY_LIMITS.maxBytes,
      deny_delete: true,
      allow_rollup_hdrs: false,
    });
    return name;
  } catch (error) {
    // Another console may have created it between our info and add.
    if (/already in use|name already/i.test((error as Error).message)) return name;
    throw ioError(`cannot open the heartbeat history ${name}`, error);
  }
}

/** True when a JetStream call failed because its stream (bucket) does not exist. */
export function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}

/** One object read whole, with its metadata. */
export interface StoredObject {
  readonly bytes: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Options of {@link readObject}. */
export interface ReadObjectOptions {
  /** Stops reading (the stream is cancelled) and rejects `cancelled`. */
  readonly signal?: AbortSignal | undefined;
  /** Called after each chunk arrives, before the next is read: pacing waits here, progress is counted here. */
  readonly onChunk?: ((bytes: number) => Promise<void> | void) | undefined;
}

/** Reads an object whole (the store checks its own chunk digest); undefined when it does not exist. */
export async function readObject(
  os: ObjectStore,
  name: string,
  options: ReadObjectOptions = {},
): Promise<StoredObject | undefined> {
  const { signal, onChunk } = options;
  if (signal?.aborted) throw cancelledError(signal, `read of ${name}`);
  let result;
  try {
    result = await os.get(name);
  } catch (error) {
    throw ioError(`cannot read object ${name}`, error);
  }
  if (result === null) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = result.data.getReader();
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) throw cancelledError(signal, `read of ${name}`);
      const { done, value } = await reader.read();
      if (signal?.aborted) throw cancelledError(signal, `read of ${name}`);
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
      await onChunk?.(value.byteLength);
    }
  } catch (error) {
    if (isBundleStoreError(error)) {
      void reader.cancel(error.message).catch(() => undefined);
      throw error;
    }
    throw ioError(`cannot read object ${name}`, error);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
  const failure = await result.error;
  if (failure) throw ioError(`cannot read object ${name}`, failure);
  return { bytes: concat(chunks, size), metadata: result.info.metadata ?? {} };
}

/**
 * Reads an object whole one chunk at a time, each chunk pulled only after `onChunk` returned: unlike `get`, whose
 * push consumer lets the server send the whole object as fast as the link takes it, a paced reader really keeps
 * the link free between chunks. Checks the store's digest; undefined when the object does not exist (or is a link).
 */
export async function readObjectPulled(
  nc: NatsConnection,
  os: ObjectStore,
  bucket: string,
  name: string,
  options: ReadObjectOptions = {},
): Promise<StoredObject | undefined> {
  const { signal, onChunk } = options;
  const what = `read of ${name}`;
  if (signal?.aborted) throw cancelledError(signal, what);
  let info;
  try {
    info = await os.info(name);
  } catch (error) {
    throw ioError(`cannot read object ${name}`, error);
  }
  if (info === null || info.deleted || info.options?.link !== undefined) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const sha = createHash('sha256');
  let consumer: Consumer | undefined;
  try {
    consumer = await jetstream(nc).consumers.get(`OBJ_${bucket}`, {
      filter_subjects: `$O.${bucket}.C.${info.nuid}`, // one subject: a string works on servers before 2.10
    });
    const pull = (c: Consumer) => {
      const next = c.next({ expires: 30_000 });
      next.catch(() => undefined); // awaited below; a pull left behind by a cancel must not be an unhandled rejection
      return next;
    };
    let pending = info.chunks > 0 ? pull(consumer) : undefined;
    for (let i = 0; i < info.chunks; i++) {
      if (signal?.aborted) throw cancelledError(signal, what);
      const message = await pending;
      if (signal?.aborted) throw cancelledError(signal, what);
      if (message === null || message === undefined) throw new Error(`chunk ${i + 1} of ${info.chunks} did not arrive`);
      // The next pull goes out before this chunk is paced, so its round trip overlaps the pacer's wait; still at
      // most one chunk is in flight, so a chunk is the longest burst on the link (small chunks: an RTT per chunk
      // would otherwise cap a 1.1 Mbps, 200 ms RTT link at 0.41 Mbps).
      if (i + 1 < info.chunks) pending = pull(consumer);
      chunks.push(message.data);
      sha.update(message.data);
      size += message.data.byteLength;
      await onChunk?.(message.data.byteLength);
    }
  } catch (error) {
    if (isBundleStoreError(error)) throw error;
    throw ioError(`cannot read object ${name}`, error);
  } finally {
    await consumer?.delete().catch(() => undefined);
  }
  if (size !== info.size || !digestMatches(info.digest, sha.digest())) {
    throw ioError(`cannot read object ${name}`, new Error(`received a corrupt object, expected ${info.digest}`));
  }
  return { bytes: concat(chunks, size), metadata: info.metadata ?? {} };
}

/** Wraps a NATS or JetStream failure as an `io` BundleStoreError. */
export function ioError(what: string, cause: unknown): BundleStoreError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new BundleStoreError(BundleStoreErrorCode.Io, `${what}: ${reason}`, { cause });
}

// The store writes `SHA-256=<base64url>`; older clients wrote hex or standard base64.
function digestMatches(recorded: string, actual: Buffer): boolean {
  const encoded = recorded.replace(/^SHA-256=/i, '').replace(/=+$/, '');
  const hex = actual.toString('hex');
  if (/^[0-9a-f]+$/i.test(encoded) && encoded.length === hex.length) return encoded.toLowerCase() === hex;
  return [actual.toString('base64url'), actual.toString('base64')].some((c) => c.replace(/=+$/, '') === encoded);
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
