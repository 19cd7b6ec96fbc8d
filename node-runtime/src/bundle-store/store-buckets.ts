// Opening the object store and the KV bucket, and reading one object whole. Buckets are created only by the
// publisher; readers treat a missing bucket as "nothing published yet" and try again on the next call.
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { type ObjectStore, Objm, StorageType } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { bucketNames } from '@cleave/proto';
import { BundleStoreError, BundleStoreErrorCode } from './bundle-store-error.js';

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

/** True when a JetStream call failed because its stream (bucket) does not exist. */
export function isStreamNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
}

/** One object read whole, with its metadata. */
export interface StoredObject {
  readonly bytes: Uint8Array;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Reads an object whole (the store checks its own chunk digest); undefined when it does not exist. */
export async function readObject(os: ObjectStore, name: string): Promise<StoredObject | undefined> {
  let result;
  try {
    result = await os.get(name);
  } catch (error) {
    throw ioError(`cannot read object ${name}`, error);
  }
  if (result === null) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of result.data) {
      chunks.push(chunk);
      size += chunk.byteLength;
    }
  } catch (error) {
    throw ioError(`cannot read object ${name}`, error);
  }
  const failure = await result.error;
  if (failure) throw ioError(`cannot read object ${name}`, failure);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, metadata: result.info.metadata ?? {} };
}

/** Wraps a NATS or JetStream failure as an `io` BundleStoreError. */
export function ioError(what: string, cause: unknown): BundleStoreError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new BundleStoreError(BundleStoreErrorCode.Io, `${what}: ${reason}`, { cause });
}
