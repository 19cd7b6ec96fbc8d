import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { runCleave, startCleave } from '../harness/mod.js';

describe('cleave CLI', () => {
  it('prints help for the program and for every subcommand, exiting 0', async () => {
    const root = await runCleave(['--help']);
    expect(root.code).toBe(0);
    const commands = ['demo', 'nats', 'evaluate'];
    for (const name of commands) expect(root.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    for (const name of commands) {
      const sub = await runCleave([name, '--help']);
      expect(sub.code).toBe(0);
      expect(sub.stdout).toContain(`Usage: cleave ${name}`);
    }
  });

  it('rejects a bad option value with a one-line error and a non-zero exit', async () => {
    const res = await runCleave(['nats', '--port', 'abc']);
    expect(res.code).toBe(1);
    expect(res.stderr.split('\n')[0]).toMatch(/--port must be an integer from -1 to 65535, got 'abc'/);
    expect(res.stderr).not.toContain('Usage:');
  });

  it('rejects an unknown command', async () => {
    const res = await runCleave(['frobnicate']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it('names the NATS URL it could not reach, and the flag that changes it', async () => {
    const res = await runCleave(['publish', tmpdir(), '--nats-url', 'nats://127.0.0.1:1']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: .*--nats-url/);
  });

  it('`cleave edge` without an agent id or models names the flag, the variable and the config key of each', async () => {
    const res = await runCleave(['edge'], { env: { CLEAVE_AGENT_ID: '', CLEAVE_EDGE_MODELS: '' } });
    expect(res.code).not.toBe(0);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain('agentId: required; set it with --agent-id, or env CLEAVE_AGENT_ID');
    expect(res.stderr).toContain('models: required; set it with --model');
    expect(res.stderr).not.toContain(':;');
    const help = await runCleave(['edge', '--help']);
    expect(help.stdout).toMatch(/--agent-id <id>\s+required:/);
  });

  it('says how to install nats-server when the binary is missing', async () => {
    const res = await runCleave(['--nats-server-bin', '/nonexistent/nats-server', 'nats']);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/NatsServerError: nats-server not found .*apt-get install nats-server/);
  });

  it('`cleave nats` serves clients, logs JSON, and stops cleanly on SIGTERM', async () => {
    const child = startCleave(['nats']);
    const lines = createInterface({ input: child.stdout! });
    let ready: { url: string; msg: string } | undefined;
    for await (const line of lines) {
      const entry = JSON.parse(line) as { url: string; msg: string };
      if (entry.msg === 'nats-server ready') {
        ready = entry;
        break;
      }
    }
    expect(ready?.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await connect({ servers: ready!.url });
    await nc.flush();
    await nc.close();
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  it('`cleave evaluate` fails clearly on a file that is not ONNX', async () => {
    const bogus = join(tmpdir(), `not-a-model-${process.pid}.onnx`);
    await writeFile(bogus, 'this is not a protobuf');
    const res = await runCleave(['evaluate', bogus, '--split', 't10k']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^cleave: .*not-a-model/m);
  });

  it('`cleave evaluate` rejects an unknown split', async () => {
    const res = await runCleave(['evaluate', 'x.onnx', '--split', 'validation']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/--split must be 'train' or 't10k', got 'validation'/);
  });
});
