import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { EXAMPLE_MODEL_BACKBONE, REPO_ROOT } from '@cleave/cli';
import { runCleave, startCleave } from '../harness/mod.js';

/** One JSON log line of a `cleave` process. */
type LogLine = { msg: string; [key: string]: unknown };

/** The JSON log lines a `cleave` process printed until `done` returned true (or it exited), then stops it. */
async function logLinesUntil(
  args: string[],
  done: (lines: { msg: string; [key: string]: unknown }[]) => boolean,
): Promise<{ msg: string; [key: string]: unknown }[]> {
  const child = startCleave(args);
  const lines: { msg: string; [key: string]: unknown }[] = [];
  for await (const line of createInterface({ input: child.stdout! })) {
    lines.push(JSON.parse(line) as { msg: string });
    if (done(lines)) break;
  }
  child.kill('SIGTERM');
  await once(child, 'exit');
  return lines;
}

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
    // --port 0: any free port, so this passes whether or not 4222 is taken by a parallel suite.
    const child = startCleave(['nats', '--port', '0']);
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

  it('`--version` prints the version of the cli package', async () => {
    const res = await runCleave(['--version']);
    const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'cli', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(version);
  });

  it('`cleave nats` without --port says when 4222 is taken, and prints the free port it took instead', async () => {
    // Hold 4222 for the test (when a parallel suite already holds it, it is just as taken).
    const holder = createServer();
    await new Promise<void>((resolve) => {
      holder.once('error', () => resolve());
      holder.listen({ host: '127.0.0.1', port: 4222, exclusive: true }, () => resolve());
    });
    try {
      const lines = await logLinesUntil(['nats'], (l) => l.some((e) => e.msg.startsWith('port 4222 is in use')));
      const ready = lines.find((e) => e.msg === 'nats-server ready');
      const busy = lines.find((e) => e.msg.startsWith('port 4222 is in use'));
      expect(ready?.['url']).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(ready?.['url']).not.toBe('nats://127.0.0.1:4222');
      expect(busy?.msg).toContain(`pass --nats-url ${String(ready?.['url'])}`);
      console.log(`cleave nats with 4222 taken: ${String(ready?.['url'])}`);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it('`cleave edge` logs every connection retry while NATS is unreachable, naming the URL and the flag', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'edge-retry-'));
    const retries = (l: LogLine[]) => l.filter((e) => e.msg.startsWith('NATS unreachable'));
    const lines = await logLinesUntil(
      [
        'edge',
        '--agent-id',
        'gw-retry',
        '--model',
        'm',
        '--nats-url',
        'nats://127.0.0.1:1',
        '--http-port',
        '0',
        '--cache-dir',
        cache,
      ],
      (l) => retries(l).length >= 3,
    );
    const seen = retries(lines);
    expect(seen.map((e) => e['attempt'])).toEqual([1, 2, 3]);
    expect(seen[0]?.msg).toMatch(
      /NATS unreachable at nats:\/\/127\.0\.0\.1:1 \(.+\); retrying in \d+ ms \(set --nats-url or NATS_URL\)/,
    );
    expect(lines.some((e) => e.msg === 'edge agent started')).toBe(true);
    console.log(`cleave edge offline: ${seen.length} retries logged, first: ${seen[0]?.msg}`);
  });

  it('`cleave partition` warns when --model-id defaults to the file name and both profiles come from this machine', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'partition-warn-')), 'bundle');
    const res = await runCleave(['partition', EXAMPLE_MODEL_BACKBONE, '--out', out, '--runs', '1', '--warmup', '1'], {
      timeoutMs: 120_000,
    });
    expect(res.code, res.stderr).toBe(0);
    const warnings = res.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((e) => e.level === 40)
      .map((e) => e.msg);
    expect(warnings.some((m) => /^--model-id not given: the model id defaults to the file name "fmnist"/.test(m))).toBe(
      true,
    );
    expect(warnings.some((m) => m.startsWith('the edge and cloud profiles were both measured here'))).toBe(true);
    const given = await runCleave(
      [
        'partition',
        EXAMPLE_MODEL_BACKBONE,
        '--out',
        `${out}-2`,
        '--model-id',
        'fmnist',
        '--runs',
        '1',
        '--warmup',
        '1',
        '--edge-profile',
        join(out, 'profiles', 'edge.json'),
        '--cloud-profile',
        join(out, 'profiles', 'cloud.json'),
      ],
      { timeoutMs: 120_000 },
    );
    expect(given.code, given.stderr).toBe(0);
    expect(given.stdout).not.toContain('--model-id not given');
    expect(given.stdout).toMatch(
      /the edge and cloud profiles come from the same device \(.*edge\.json, .*cloud\.json\)/,
    );
    console.log(`cleave partition warnings: ${warnings.length} (${warnings.map((m) => m.slice(0, 40)).join(' | ')})`);
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
