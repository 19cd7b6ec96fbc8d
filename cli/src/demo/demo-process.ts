// A `cleave` subcommand as a child process of the demo: its JSON log lines are parsed as they come, a ready line
// is awaited, and it is stopped with SIGTERM (SIGKILL after a grace period), like systemd would.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The `cleave` entry point this demo runs from; children run the same build. */
// Compiled, this module sits in dist/demo beside dist/main.js; imported from its TypeScript source (by a test), the
// binary is still the compiled one.
export const CLEAVE_MAIN = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../../dist/main.js' : '../main.js', import.meta.url),
);

/** Spawns a command; defaults to `child_process.spawn`, a CPU-quota group passes its own. */
export type Spawner = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** A running `cleave` child. */
export interface CleaveChild {
  readonly name: string;
  readonly pid: number | undefined;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string | null>;
  /** Resolves with the first log line whose `msg` is `msg`; rejects if the process exits first or on timeout. */
  waitForLog(msg: string, timeoutMs: number): Promise<Record<string, unknown>>;
  /** The last lines of stderr and of non-JSON stdout, for error messages. */
  tail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `node cli/dist/main.js ...args`, optionally wrapped (e.g. `ip netns exec NAME`) and via `spawner`. */
export function spawnCleave(
  name: string,
  args: readonly string[],
  options: {
    spawner?: Spawner;
    wrap?: (command: string, args: readonly string[]) => { command: string; args: string[] };
    /** The child's whole environment (the demo passes its own, from the CLI context). */
    env: Readonly<Record<string, string | undefined>>;
  },
): CleaveChild {
  const base = { command: process.execPath, args: [CLEAVE_MAIN, ...args] };
  const { command, args: argv } = options.wrap ? options.wrap(base.command, base.args) : base;
  const spawner: Spawner = options.spawner ?? ((c, a, o) => spawn(c, [...a], o));
  // Detached: a Ctrl-C on the terminal reaches only the demo, which then stops its children in order.
  const child = spawner(command, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...options.env },
  });
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
    child.once('error', () => resolve('spawn-error'));
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<{ msg: string; resolve: (line: Record<string, unknown>) => void }>();
  let tail = '';
  const keep = (text: string) => (tail = (tail + text).slice(-1500));
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        keep(line + '\n');
        return;
      }
      if (typeof entry['level'] === 'number' && entry['level'] >= 50) keep(`${String(entry['msg'])}\n`);
      if (logs.length < 200) logs.push(entry);
      for (const w of [...waiters]) {
        if (entry['msg'] === w.msg) {
          waiters.delete(w);
          w.resolve(entry);
        }
      }
    });
  }
  child.stderr?.on('data', (d: Buffer) => keep(d.toString()));
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid: child.pid,
    exited,
    tail: () => tail.trim(),
    waitForLog(msg, timeoutMs) {
      const seen = logs.find((l) => l['msg'] === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { msg, resolve };
        waiters.add(waiter);
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name} did not log '${msg}' within ${timeoutMs} ms${tail ? `: ${tail.trim()}` : ''}`));
        }, timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          if (waiters.delete(waiter)) {
            reject(new Error(`${name} exited (${String(code)}) before '${msg}'${tail ? `: ${tail.trim()}` : ''}`));
          }
        });
        const original = waiter.resolve;
        waiter.resolve = (line) => {
          clearTimeout(timer);
          original(line);
        };
      });
    },
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(killer);
      })();
      return stopping;
    },
  };
}
