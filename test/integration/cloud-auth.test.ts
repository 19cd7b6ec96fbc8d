// NATS credentials pass through from configuration to the connection: a replica (and the console) reaches a server
// that requires user/password or a token only with them, and a wrong or missing credential is a one-line error and
// exit 1.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveNatsServerBinary } from '@cleave/cli';
import { runCleave, startCloudProcess, startConsoleProcess } from '../harness/mod.js';

const servers: ChildProcess[] = [];

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** A nats-server that requires the given auth flags, listening on a free port. */
async function authServer(authArgs: string[]): Promise<string> {
  const port = await freePort();
  const child = spawn(await resolveNatsServerBinary(), ['-a', '127.0.0.1', '-p', String(port), ...authArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  servers.push(child);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('Server is ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`nats-server exited ${code}: ${log}`)));
  });
  return `nats://127.0.0.1:${port}`;
}

let userPassUrl: string;
let tokenUrl: string;
let jetStreamUserUrl: string;
beforeAll(async () => {
  userPassUrl = await authServer(['--user', 'cloud', '--pass', 's3cret']);
  tokenUrl = await authServer(['--auth', 'tok-123']);
  // The console keeps its audit log and policies in KV, so its server needs JetStream.
  const store = await mkdtemp(join(tmpdir(), 'cleave-auth-js-'));
  jetStreamUserUrl = await authServer(['--user', 'operator', '--pass', 'op-pw', '-js', '-sd', store]);
});
afterAll(() => {
  for (const server of servers) server.kill('SIGTERM');
});

describe('cleave cloud: NATS authentication', () => {
  it('connects with user and password from the environment, and with a token', async () => {
    const withUser = await startCloudProcess(['--nats-url', userPassUrl, '--no-http'], {
      CLEAVE_NATS_USER: 'cloud',
      CLEAVE_NATS_PASS: 's3cret',
    });
    const withToken = await startCloudProcess(['--nats-url', tokenUrl, '--no-http'], { CLEAVE_NATS_TOKEN: 'tok-123' });
    for (const replica of [withUser, withToken]) {
      replica.child.kill('SIGTERM');
      expect(await replica.exited).toBe(0);
    }
  });

  it('fails with one line and exit 1 on a wrong password or a missing credential', async () => {
    const wrong = await runCleave(['cloud', '--nats-url', userPassUrl, '--no-http'], {
      env: { CLEAVE_NATS_USER: 'cloud', CLEAVE_NATS_PASS: 'nope' },
      timeoutMs: 30_000,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^cleave: .*[Aa]uthorization/);
    const missing = await runCleave(['cloud', '--nats-url', tokenUrl, '--no-http'], { timeoutMs: 30_000 });
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reports an unreadable creds file as a configuration problem before connecting', async () => {
    const res = await runCleave(['cloud', '--nats-url', userPassUrl, '--creds', '/nonexistent/cloud.creds'], {
      timeoutMs: 30_000,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/ConfigError: .*nats\.credsFile: cannot read \/nonexistent\/cloud\.creds/);
  });
});

describe('cleave console: NATS authentication', () => {
  it('connects with CLEAVE_NATS_USER and CLEAVE_NATS_PASS and serves', async () => {
    const proc = await startConsoleProcess(jetStreamUserUrl, 'cleave', 'console-auth-token-0123456789', {
      CLEAVE_NATS_USER: 'operator',
      CLEAVE_NATS_PASS: 'op-pw',
    });
    try {
      const res = await fetch(`${proc.url}/api/fleet`, {
        headers: { authorization: 'Bearer console-auth-token-0123456789' },
      });
      expect(res.status).toBe(200);
    } finally {
      expect(await proc.stop()).toBe(0);
    }
  });

  it('lists every credential problem in one line, and refuses a wrong password, with exit 1', async () => {
    const both = await runCleave(['console', '--nats-url', 'http://x', '--nats-user', 'operator'], {
      env: { CLEAVE_NATS_TOKEN: 'tok' },
      timeoutMs: 30_000,
    });
    expect(both.code).toBe(1);
    const line = both.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toContain('choose one authentication method');
    expect(line).toContain('user and pass go together');
    expect(line).toContain('must be a NATS URL');
    const wrong = await runCleave(['console', '--nats-url', jetStreamUserUrl, '--nats-user', 'operator'], {
      env: { CLEAVE_NATS_PASS: 'nope' },
      timeoutMs: 30_000,
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^cleave: .*[Aa]uthorization/);
  });
});
