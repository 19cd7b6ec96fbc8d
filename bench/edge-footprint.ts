/**
 * Edge agent footprint: what a gateway installs, and what one idle agent costs in memory.
 *
 * 1. Install size, as the runtime stage of deploy/docker/Dockerfile.edge installs it: the root manifests and every
 *    workspace's package.json in a fresh directory, `npm ci --omit=dev --workspace=<W> --ignore-scripts`, the macOS
 *    and Windows onnxruntime binaries removed, then the built files (package.json `files`: dist/, console-assets/)
 *    of each workspace that npm linked into node_modules/@cleave. Bytes are apparent sizes like `du -sb`: symlinks
 *    are not followed, hard links count once. Packages = package.json files of installed packages (top level,
 *    scoped and nested node_modules; workspace links count once, their target is not walked through the link).
 * 2. Idle RSS: a nats-server of our own, the example model partitioned and published, then `--runs` times an agent
 *    started with `--entry`, warmed with 50 JSON inferences on its local API, left idle 5 s, and VmRSS sampled
 *    10 × 500 ms (median of the samples, then median of the runs).
 * 3. Idle CPU of the same agents (utime + stime of /proc/PID/stat, all threads): over the first 5 s after the
 *    warm-up, while its link probes still run at the active pace, and over `--idle-seconds` from 10 s on, once they
 *    have backed off (link.probeIdleAfterMs is 5 s). Medians of the runs, with a bare Node process for scale.
 *
 * No @cleave package is imported: the package layout is changing, so only node: modules and subprocesses are used.
 *
 * Usage, from a repository root after `npx tsc -b` (see --help):
 *   npx tsx bench/edge-footprint.ts [--workspace @cleave/edge-agent] [--entry 'node cli/dist/main.js edge']
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { median } from '@cleave/proto';
import { testPublisher } from '../test/harness/bundle-signing.js';

const { values: args } = parseArgs({
  options: {
    workspace: { type: 'string', default: '@cleave/edge-agent' },
    entry: { type: 'string', default: 'node cli/dist/main.js edge' },
    cli: { type: 'string', default: 'node cli/dist/main.js' },
    runs: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '20' },
    label: { type: 'string', default: 'current' },
    'bundle-cache': { type: 'string' },
    'skip-install': { type: 'boolean', default: false },
    'skip-rss': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`Usage: npx tsx bench/edge-footprint.ts [options]   (from a built repository root)
  --workspace <name>    workspace npm ci installs, as in Dockerfile.edge (default @cleave/edge-agent)
  --entry <cmd>         starts the agent; agent flags are appended (default 'node cli/dist/main.js edge')
  --cli <cmd>           cleave CLI that partitions and publishes the example model (default 'node cli/dist/main.js')
  --runs <n>            agent starts to measure; the median is reported (default 3)
  --idle-seconds <s>    idle CPU window once the probes have backed off (default 20)
  --label <name>        results go to bench/results/edge-footprint-<label>.json (default current)
  --bundle-cache <dir>  keep the partitioned example bundle here and reuse it (default: a temp dir per invocation)
  --skip-install, --skip-rss   skip the install, or the idle RSS and CPU, measurement
`);
  process.exit(0);
}
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, not ${args.runs}`);
const idleSeconds = Number(args['idle-seconds']);
if (!(idleSeconds > 0)) throw new Error(`--idle-seconds must be a positive number, not ${args['idle-seconds']}`);
const root = process.cwd();
const MiB = 1024 * 1024;
/** Packages whose presence shows what the edge install drags in from the partitioner and cloud side. */
const WATCHED = '@cleave/partitioner @cleave/cloud-service @nats-io/services hono chart.js @opentelemetry/sdk-node';
const watched = WATCHED.split(' ');

/** A child process with its exit and the tail of its output. */
interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** The last 4 KiB of stdout and stderr, for error messages. */
  tail(): string;
}

// Everything started or created is tracked, so that the finally block and Ctrl-C leave nothing behind.
const children = new Set<Proc>();
const tempDirs: string[] = [];
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const p of children) p.child.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

/** Spawns argv without a shell, so that child.pid is the measured process itself and not a wrapper. */
function start(argv: string[], cwd = root, onLine?: (line: string) => void): Proc {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw new Error('empty command');
  const child = spawn(cmd, rest, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (s: string) => (out = (out + s).slice(-4096));
  createInterface({ input: child.stdout }).on('line', (line) => {
    keep(line + '\n');
    try {
      onLine?.(line);
    } catch {
      // Callers parse JSON log lines; any other line is only kept for error messages.
    }
  });
  child.stderr.on('data', (d: Buffer) => keep(d.toString()));
  const exited = new Promise<number | null>((res) => {
    child.once('error', (e) => (keep(String(e)), res(-1)));
    child.once('close', (code) => res(code));
  });
  const proc: Proc = { child, exited, tail: () => out.trim() };
  children.add(proc);
  void exited.then(() => children.delete(proc));
  return proc;
}

/** Runs argv to completion and returns its stdout; throws with its output when it fails. */
async function run(argv: string[], cwd = root): Promise<string> {
  const lines: string[] = [];
  const p = start(argv, cwd, (l) => lines.push(l));
  const code = await p.exited;
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}:\n${p.tail()}`);
  return lines.join('\n');
}

/** SIGTERM, then SIGKILL after 5 s: the agent drains on SIGTERM, which takes well under that when idle. */
async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(timer);
}

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `cleave-footprint-${name}-`));
  tempDirs.push(dir);
  return dir;
}

const readJson = async <T>(path: string) => JSON.parse(await readFile(path, 'utf8')) as T;
const entries = async (dir: string) => (existsSync(dir) ? readdir(dir) : []);

/** Apparent bytes under a path, like `du -sb`: directories and links count their own size, links are not followed. */
async function diskBytes(path: string, seen = new Set<string>()): Promise<number> {
  const st = await lstat(path);
  if (seen.has(`${st.dev}:${st.ino}`)) return 0;
  seen.add(`${st.dev}:${st.ino}`);
  let bytes = st.size;
  if (st.isDirectory()) for (const name of await readdir(path)) bytes += await diskBytes(join(path, name), seen);
  return bytes;
}

/** Names of the packages under a node_modules directory, nested copies included (one per package.json). */
async function packagesIn(nodeModules: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string, name: string) => {
    if (!existsSync(join(dir, 'package.json'))) return;
    found.push(name);
    // A workspace link leads out of node_modules; the workspace folder's own node_modules is walked separately.
    if (!(await lstat(dir)).isSymbolicLink()) found.push(...(await packagesIn(join(dir, 'node_modules'))));
  };
  for (const name of await entries(nodeModules)) {
    if (name.startsWith('.')) continue;
    if (!name.startsWith('@')) await visit(join(nodeModules, name), name);
    else
      for (const sub of await entries(join(nodeModules, name)))
        await visit(join(nodeModules, name, sub), name + '/' + sub);
  }
  return found;
}

/** What the edge image's runtime stage installs: sizes, package count, linked workspaces, watched packages. */
async function measureInstall(workspace: string) {
  const t0 = performance.now();
  const dir = await tempDir('install');
  const { workspaces = [] } = await readJson<{ workspaces?: string[] }>(join(root, 'package.json'));
  for (const file of ['package.json', 'package-lock.json', '.npmrc', ...workspaces.map((w) => `${w}/package.json`)])
    if (existsSync(join(root, file))) await cp(join(root, file), join(dir, file));
  process.stderr.write(`install: npm ci --omit=dev --workspace=${workspace} in ${dir}\n`);
  const flags = ['--omit=dev', `--workspace=${workspace}`, '--no-audit', '--no-fund', '--ignore-scripts'];
  await run(['npm', 'ci', ...flags], dir);
  const ortBin = join(dir, 'node_modules', 'onnxruntime-node', 'bin');
  for (const napi of (await entries(ortBin)).filter((n) => n.startsWith('napi-v')))
    for (const os of ['darwin', 'win32']) await rm(join(ortBin, napi, os), { recursive: true, force: true });
  const nodeModulesBytes = await diskBytes(join(dir, 'node_modules'));
  const ort = join(dir, 'node_modules', 'onnxruntime-node');
  const onnxruntimeBytes = existsSync(ort) ? await diskBytes(ort) : 0;

  // npm links each installed workspace as node_modules/@cleave/<x> -> ../../<folder>; the image copies its build.
  const scope = join(dir, 'node_modules', '@cleave');
  const cleaveWorkspaces: string[] = [];
  const names = await packagesIn(join(dir, 'node_modules'));
  for (const name of await entries(scope)) {
    if (!(await lstat(join(scope, name))).isSymbolicLink()) continue;
    const folder = resolve(scope, await readlink(join(scope, name)));
    const { files = ['dist'] } = await readJson<{ files?: string[] }>(join(folder, 'package.json'));
    for (const file of files) {
      const src = join(root, relative(dir, folder), file);
      if (existsSync(src)) await cp(src, join(folder, file), { recursive: true, verbatimSymlinks: true });
      else if (file === 'dist') throw new Error(`${src} is missing: build first (npx tsc -b)`);
    }
    cleaveWorkspaces.push(`@cleave/${name}`);
    // Dependencies npm could not hoist live in the workspace folder's own node_modules.
    names.push(...(await packagesIn(join(folder, 'node_modules'))));
  }
  const present = Object.fromEntries(watched.map((p) => [p, names.includes(p)]));
  const sizes = { totalBytes: await diskBytes(dir), nodeModulesBytes, onnxruntimeBytes, packages: names.length };
  return { workspace, ...sizes, cleaveWorkspaces, present, seconds: (performance.now() - t0) / 1e3 };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const address = server.address();
  await new Promise((res) => server.close(res));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** Polls until `probe` gives a value; fails when `proc` exits first or after `timeoutMs`. */
async function until<T>(what: string, proc: Proc, probe: () => Promise<T | undefined>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null)
      throw new Error(`exited before ${what}:\n${proc.tail()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}:\n${proc.tail()}`);
    await sleep(100);
  }
}

const tcpOpen = (port: number) =>
  new Promise<true | undefined>((res) => {
    const socket = tcpConnect(port, '127.0.0.1', () => (socket.destroy(), res(true)));
    socket.once('error', () => res(undefined));
  });

/** VmRSS and VmHWM (peak RSS) of a live process, in MiB. */
async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function sampleRss(pid: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < 10; i++) samples.push((await sleep(i ? 500 : 0), await memory(pid)).rss);
  return samples;
}

/** One agent start: time from spawn to a 200 on /readyz, idle RSS after warm-up, peak RSS. */
interface RssRun {
  readyMs: number;
  rssMiB: number;
  hwmMiB: number;
  samplesMiB: number[];
  /** CPU ms per second over the first 5 s idle, and over `--idle-seconds` from 10 s on. */
  cpuFirst5sMsPerS: number;
  cpuLaterMsPerS: number;
}

/** CPU time of a live process so far (user + system, every thread), in ms; /proc counts in 1/100 s ticks. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms per second of `pid` over the next `ms`. */
async function cpuRate(pid: number, ms: number): Promise<number> {
  const [c0, t0] = [await cpuMs(pid), performance.now()];
  await sleep(ms);
  return ((await cpuMs(pid)) - c0) / ((performance.now() - t0) / 1000);
}

async function measureAgent(natsUrl: string, input: { name: string; dims: number[] }): Promise<RssRun> {
  const cache = await tempDir('agent');
  const argv = [...args.entry.split(/\s+/).filter(Boolean), '--agent-id', 'footprint', '--nats-url', natsUrl];
  argv.push('--model', 'fmnist', '--cache-dir', cache, '--http-port', '0');
  const t0 = performance.now();
  let http: string | undefined;
  const agent = start(argv, root, (line) => {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry['msg'] === 'edge agent started' && typeof entry['http'] === 'string') http = entry['http'];
  });
  try {
    // Started is not ready: the agent serves once it has fetched and warmed the bundle.
    const ready = async () => (http !== undefined && (await fetch(`${http}/readyz`)).ok ? true : undefined);
    await until('the agent was ready', agent, ready);
    const readyMs = performance.now() - t0;
    // One fixed image, 50 times: enough for onnxruntime's and V8's lazy allocations to have happened.
    const data = Array.from({ length: input.dims.reduce((a, b) => a * b, 1) }, (_, i) => ((i * 7919) % 256) / 255);
    const body = JSON.stringify({ inputs: { [input.name]: { dims: input.dims, data } } });
    for (let i = 0; i < 50; i++) {
      const init = { method: 'POST', body, headers: { 'content-type': 'application/json' } };
      const res = await fetch(`${http}/v1/models/fmnist/infer`, init);
      if (!res.ok) throw new Error(`infer answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
    const pid = agent.child.pid!;
    const cpuFirst5sMsPerS = await cpuRate(pid, 5000);
    const samplesMiB = await sampleRss(pid);
    const cpuLaterMsPerS = await cpuRate(pid, idleSeconds * 1000);
    const hwmMiB = (await memory(pid)).hwm;
    return { readyMs, rssMiB: median(samplesMiB), hwmMiB, samplesMiB, cpuFirst5sMsPerS, cpuLaterMsPerS };
  } finally {
    await stop(agent);
  }
}

/** Idle RSS over `runs` agent starts, plus the RSS of a bare Node process for scale. */
async function measureRss() {
  const dir = await tempDir('rss');
  const cli = args.cli.split(/\s+/).filter(Boolean);
  const bundle = args['bundle-cache'] === undefined ? join(dir, 'bundle') : resolve(args['bundle-cache']);
  if (!existsSync(join(bundle, 'manifest.json'))) {
    process.stderr.write(`rss: partitioning the example model into ${bundle}\n`);
    await mkdir(dirname(bundle), { recursive: true });
    // No calibration: exits stay unused, which does not change what is loaded into memory.
    const flags = '--runs 5 --model-id fmnist --force'.split(' ');
    await run([...cli, 'partition', 'models/fmnist/fmnist-exits.onnx', '--out', bundle, ...flags]);
  }
  type Manifest = { model: { inputs: { name: string; shape: (number | string)[] }[] } };
  const first = (await readJson<Manifest>(join(bundle, 'manifest.json'))).model.inputs[0];
  if (first === undefined) throw new Error('the bundle has no inputs');
  const input = { name: first.name, dims: first.shape.map((d) => (typeof d === 'number' ? d : 1)) }; // batch 1

  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  await writeFile(conf, `port: ${port}\nhost: 127.0.0.1\njetstream { store_dir: "${dir}/js" }\nmax_payload: 8MB\n`);
  const nats = start([existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server', '-c', conf]);
  try {
    await until('nats-server listened', nats, () => tcpOpen(port), 10_000);
    const natsUrl = `nats://127.0.0.1:${port}`;
    // Signed with the test publisher key, which the agents started below trust (they inherit this environment).
    await run([...cli, 'publish', bundle, '--nats-url', natsUrl, '--sign-key', testPublisher().seedFile]);
    process.env['CLEAVE_TRUSTED_PUBLISHERS'] = testPublisher().publicKey;
    const bare = start([process.execPath, '-e', 'setInterval(() => {}, 1 << 30)']);
    await sleep(1000);
    const bareNodeMiB = median(await sampleRss(bare.child.pid!));
    const bareNodeCpuMsPerS = await cpuRate(bare.child.pid!, 5000);
    await stop(bare);
    const results: RssRun[] = [];
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`rss: agent run ${i + 1}/${runs}\n`);
      results.push(await measureAgent(natsUrl, input));
    }
    const pick = (key: 'rssMiB' | 'hwmMiB' | 'readyMs' | 'cpuFirst5sMsPerS' | 'cpuLaterMsPerS') =>
      median(results.map((r) => r[key]));
    const medians = { rssMiB: pick('rssMiB'), hwmMiB: pick('hwmMiB'), readyMs: pick('readyMs') };
    const cpu = { cpuFirst5sMsPerS: pick('cpuFirst5sMsPerS'), cpuLaterMsPerS: pick('cpuLaterMsPerS') };
    return { entry: args.entry, ...medians, ...cpu, bareNodeMiB, bareNodeCpuMsPerS, runs: results };
  } finally {
    await stop(nats);
  }
}

/** A one-row markdown table; `|` separates the column names. */
const table = (header: string, row: (string | number)[]) =>
  [`| ${header.split('|').join(' | ')} |`, `|${header.replace(/[^|]+/g, '---')}|`, `| ${row.join(' | ')} |`].join('\n');
const mib = (bytes: number) => (bytes / MiB).toFixed(1);

const t0 = performance.now();
try {
  const install = args['skip-install'] ? undefined : await measureInstall(args.workspace);
  const rss = args['skip-rss'] ? undefined : await measureRss();
  const commit = await run(['git', 'rev-parse', '--short', 'HEAD']).catch(() => 'unknown');
  const seconds = (performance.now() - t0) / 1000;
  const out: string[] = [];
  if (install) {
    const sizes = [install.totalBytes, install.nodeModulesBytes, install.onnxruntimeBytes].map(mib);
    const linked = install.cleaveWorkspaces.map((w) => w.replace('@cleave/', '')).join(', ');
    const row = [args.label, install.workspace, ...sizes, install.packages, linked];
    const yesNo = watched.map((p) => (install.present[p] ? 'yes' : 'no'));
    const header = 'label|workspace|install MiB|node_modules MiB|onnxruntime-node MiB|packages|@cleave/* linked|';
    out.push(table(header + watched.join('|'), [...row, ...yesNo]));
  }
  if (rss) {
    const perRun = rss.runs.map((r) => r.rssMiB.toFixed(1)).join(' / ');
    const [idle, peak, bare] = [rss.rssMiB, rss.hwmMiB, rss.bareNodeMiB].map((x) => x.toFixed(1));
    const header = 'label|entry|runs|idle RSS MiB|per run|peak RSS MiB|bare node RSS MiB|spawn→ready ms';
    const ready = Math.round(rss.readyMs);
    out.push(table(header, [args.label, `\`${rss.entry}\``, runs, idle!, perRun, peak!, bare!, ready]));
    const cpu = [rss.cpuFirst5sMsPerS, rss.cpuLaterMsPerS, rss.bareNodeCpuMsPerS].map((x) => x.toFixed(1));
    const later = `idle CPU ms/s, ${idleSeconds} s from 10 s on (probes backed off)`;
    out.push(
      table(`label|idle CPU ms/s, first 5 s (probes at the active pace)|${later}|bare node CPU ms/s`, [
        args.label,
        ...cpu,
      ]),
    );
  }
  const file = join(root, 'bench', 'results', `edge-footprint-${args.label}.json`);
  await mkdir(dirname(file), { recursive: true });
  const meta = { label: args.label, date: new Date().toISOString(), commit, node: process.version, seconds };
  await writeFile(file, JSON.stringify({ ...meta, install, rss }, null, 2) + '\n');
  // The repository's lint runs prettier --check on bench/results; format the JSON the same way when it can.
  const prettier = join(root, 'node_modules', '.bin', 'prettier');
  if (existsSync(prettier)) await run([prettier, '--write', '--log-level', 'warn', file]).catch(() => undefined);
  const done = `written ${relative(root, file)} (${seconds.toFixed(0)} s, commit ${commit})`;
  process.stdout.write(`${out.join('\n\n')}\n\n${done}\n`);
} finally {
  for (const p of [...children]) await stop(p);
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
}
