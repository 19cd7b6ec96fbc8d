import { type KV, type KvOptions, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Opens a KV bucket, creating it with `options` when it does not exist. `Kvm.open` binds lazily and succeeds for a
 * missing bucket, so existence is checked with a status call; a bucket someone else created (e.g. the console,
 * with its own TTL) is used as it is.
 */
export async function openOrCreateKv(nc: NatsConnection, name: string, options: Partial<KvOptions>): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    const kv = await kvm.open(name);
    await kv.status();
    return kv;
  } catch {
    return kvm.create(name, options);
  }
}
