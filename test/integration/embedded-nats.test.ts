import { access } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { NatsServerError, startEmbeddedNats } from '@cleave/cli';

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('embedded nats-server', () => {
  it('starts on an ephemeral port with JetStream, KV, Object Store and an 8 MiB max_payload, then stops cleanly', async () => {
    const server = await startEmbeddedNats();
    const nc = await connect({ servers: server.url });
    try {
      expect(server.port).toBeGreaterThan(0);
      expect(nc.info?.max_payload).toBe(8 * 1024 * 1024);
      expect(nc.info?.jetstream).toBe(true);

      const kv = await new Kvm(nc).create('cleave_test_kv');
      await kv.put('models.fmnist.current', 'v3');
      expect((await kv.get('models.fmnist.current'))?.string()).toBe('v3');

      const store = await new Objm(nc).create('cleave_test_obj');
      const blob = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31) % 251);
      await store.putBlob({ name: 'head.onnx' }, blob);
      const back = await store.getBlob('head.onnx');
      expect(back?.length).toBe(blob.length);
      expect(Buffer.from(back ?? []).equals(Buffer.from(blob))).toBe(true);

      // A 5 MiB message is above NATS's 1 MiB default, so this proves the raised limit is in force.
      const sub = nc.subscribe('big');
      nc.publish('big', new Uint8Array(5 * 1024 * 1024));
      for await (const m of sub) {
        expect(m.data.length).toBe(5 * 1024 * 1024);
        break;
      }
    } finally {
      await nc.close();
      await server.stop();
    }
    expect(await portAccepts(server.port)).toBe(false);
    await expect(access(server.storeDir)).rejects.toThrow();
    expect(await server.exited).not.toBeUndefined();
  });

  it('supports `await using` for scoped cleanup', async () => {
    let port = 0;
    {
      await using server = await startEmbeddedNats({ jetstream: false });
      port = server.port;
      expect(await portAccepts(port)).toBe(true);
    }
    expect(await portAccepts(port)).toBe(false);
  });

  it('fails with one clear error naming the path and how to install when the binary is wrong', async () => {
    const attempt = startEmbeddedNats({ binary: '/nonexistent/nats-server' });
    await expect(attempt).rejects.toBeInstanceOf(NatsServerError);
    await expect(attempt).rejects.toMatchObject({ code: 'binary_not_found' });
    await expect(attempt).rejects.toThrow(/\/nonexistent\/nats-server.*apt-get install nats-server/);
  });

  it("reports a startup failure with the server's own reason instead of hanging", async () => {
    // /bin/false is executable but exits at once, like a broken or wrong binary would.
    await expect(startEmbeddedNats({ binary: '/bin/false' })).rejects.toMatchObject({
      name: 'NatsServerError',
      code: 'startup_failed',
    });
  });
});
