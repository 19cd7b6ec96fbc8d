// The README's "Bring your own model" path, followed as written: the fenced blocks marked `<!-- byo:step -->` run
// one after another in a temp dir (each in bash, which fails on the first error), and the ones marked
// `<!-- byo:background -->` (nats, cloud, edge) are started and left running until the end. The only help the
// test gives is what the README tells a reader to do: `cleave` on PATH, and NATS_URL when `cleave nats` could not
// get port 4222. The curl step must answer with the exported model's output.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@cleave/cli';

interface ReadmeBlock {
  readonly kind: 'step' | 'background';
  readonly script: string;
}

/** The marked blocks of the README's "Bring your own model" section, in order. */
async function byoBlocks(): Promise<ReadmeBlock[]> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Bring your own model');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end);
  return [...section.matchAll(/<!-- byo:(step|background) -->\n```sh\n([\s\S]*?)\n```/g)].map((m) => ({
    kind: m[1] as ReadmeBlock['kind'],
    script: m[2]!,
  }));
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

const background: { child: ChildProcess; output: () => string }[] = [];
let work: string | undefined;

afterAll(async () => {
  for (const { child } of background) {
    if (child.exitCode === null && child.pid !== undefined) {
      // Each block runs in its own process group: kill the shell and the cleave it started.
      process.kill(-child.pid, 'SIGTERM');
      await once(child, 'exit');
    }
  }
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('README: bring your own model', () => {
  it('exports a torchvision model, partitions, publishes, serves it and answers curl, as the README says', async () => {
    const blocks = await byoBlocks();
    expect(blocks.filter((b) => b.kind === 'step').length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => b.kind === 'background').length).toBe(3);
    work = await mkdtemp(join(tmpdir(), 'cleave-byo-'));
    // The README's own setup line: cleave on PATH from the checkout. Trust and ports come from the blocks only.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env['PATH']}`,
    };
    delete env['CLEAVE_TRUSTED_PUBLISHERS'];
    delete env['NATS_URL'];
    // The agent's HTTP port is the README's 8470; parallel suites may hold it, and then another is used.
    const httpPort = (await portFree(8470)) ? 8470 : 18470 + (process.pid % 1000);
    const localise = (script: string) => script.replaceAll('8470', String(httpPort));

    const run = (script: string, detached: boolean) =>
      spawn('bash', ['-euo', 'pipefail', '-c', localise(script)], {
        cwd: work,
        env,
        detached,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    let lastStdout = '';
    const started = Date.now();
    for (const block of blocks) {
      const child = run(block.script, block.kind === 'background');
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      if (block.kind === 'background') {
        background.push({ child, output: () => out });
        if (block.script.trim() === 'cleave nats') {
          // Wait for its ready line; it names the URL, which the README says to export when it is not 4222.
          const deadline = Date.now() + 20_000;
          while (!/"msg":"nats-server ready"/.test(out) && Date.now() < deadline && child.exitCode === null) {
            await new Promise((r) => setTimeout(r, 100));
          }
          const url = /"url":"(nats:\/\/[^"]+)"/.exec(out)?.[1];
          expect(url, `cleave nats did not start:\n${out}`).toBeDefined();
          if (!url!.endsWith(':4222')) env['NATS_URL'] = url;
        }
        continue;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      const [code] = (await once(child, 'exit')) as [number | null];
      clearTimeout(timer);
      const logs = background.map((b) => b.output().slice(-2000)).join('\n---\n');
      expect(code, `step failed:\n${block.script}\n${out.slice(-4000)}\nbackground:\n${logs}`).toBe(0);
      if (block.script.includes('curl -s')) lastStdout = out;
      if (block.script.includes('cleave infer')) {
        expect(out).toMatch(/logits float32 \[1, 10\]/);
        expect(out).toMatch(/top-5: /);
      }
    }
    const reply = JSON.parse(lastStdout.trim().split('\n').at(-1)!) as {
      model: string;
      ranOn: string;
      split: string;
      outputs: Record<string, { dtype: string; dims: number[]; data: number[] }>;
    };
    expect(reply.model).toBe('mnv3');
    expect(reply.outputs['logits']?.dims).toEqual([1, 10]);
    expect(reply.outputs['logits']?.data).toHaveLength(10);
    expect(reply.outputs['logits']!.data.every(Number.isFinite)).toBe(true);
    console.log(
      `byo e2e: ${blocks.length} README blocks in ${((Date.now() - started) / 1000).toFixed(0)} s; curl answered ${reply.model} ran on ${reply.ranOn} split ${reply.split}, logits [${reply.outputs[
        'logits'
      ]!.data.slice(0, 3)
        .map((v) => v.toFixed(3))
        .join(', ')}, …]`,
    );
  });
});
