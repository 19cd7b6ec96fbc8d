import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { startEmbeddedNats, type EmbeddedNats } from '@cleave/cli';

/** The NATS server a test file talks to, and a prefix that keeps its subjects and buckets apart. */
export interface TestNats {
  readonly url: string;
  /** Unique per test file: use it in subjects (`${prefix}.x`) and bucket names (`${prefix}_kv`). */
  readonly prefix: string;
  /** The embedded server, or undefined when reusing an external one via NATS_URL. */
  readonly server: EmbeddedNats | undefined;
}

/**
 * Gives the calling test file its own nats-server on ephemeral ports (started in beforeAll, stopped
 * in afterAll), or reuses the server at NATS_URL when set. Call at the top level of a test file.
 */
export function useTestNats(): () => TestNats {
  let current: TestNats | undefined;
  beforeAll(async () => {
    const prefix = `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const external = process.env['NATS_URL'];
    if (external) {
      current = { url: external, prefix, server: undefined };
      return;
    }
    const server = await startEmbeddedNats();
    current = { url: server.url, prefix, server };
  });
  afterAll(async () => {
    await current?.server?.stop();
  });
  return () => {
    if (current === undefined) throw new Error('useTestNats(): server not started yet; use it inside a test or hook');
    return current;
  };
}
