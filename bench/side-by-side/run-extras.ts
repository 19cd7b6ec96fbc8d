/**
 * The two measurements of issue 8 that have their own benches: cloud throughput with and without batching
 * (bench/cloud-batching.ts) and the edge agent's orchestration overhead (bench/edge-overhead.ts). They run after
 * the side-by-side run, with short settings, and their tables are appended to the report.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '@cleave/cli';

/** One extra bench's printed output. */
export interface ExtraResult {
  readonly title: string;
  readonly command: string;
  readonly output: string;
}

const EXTRAS = [
  {
    title: 'Cloud throughput with and without batching',
    script: 'cloud-batching.ts',
    npm: 'bench:cloud-batching',
    args: ['--seconds', '2', '--rounds', '2'],
  },
  {
    title: 'Edge agent orchestration overhead',
    script: 'edge-overhead.ts',
    npm: 'bench:edge',
    args: ['--requests', '500', '--warmup', '100'],
  },
] as const;

function runScript(script: string, args: readonly string[]): Promise<string> {
  const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [join(REPO_ROOT, 'bench', script), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) =>
    child.once('exit', (code) =>
      resolve(code === 0 ? out : `${out}\n(failed with ${code}: ${err.trim().split('\n').slice(-3).join(' ')})`),
    ),
  );
}

/** Runs every extra bench in turn, logging which one is running. */
export async function runExtras(log: (line: string) => void): Promise<ExtraResult[]> {
  const results: ExtraResult[] = [];
  for (const e of EXTRAS) {
    log(`running ${e.npm} with short settings`);
    results.push({
      title: e.title,
      command: `npm run ${e.npm} -- ${e.args.join(' ')}`,
      output: await runScript(e.script, e.args),
    });
  }
  return results;
}
