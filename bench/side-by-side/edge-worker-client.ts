/** Starts the edge worker inside the CPU-quota group and calls it over IPC, one request/reply at a time. */
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { REPO_ROOT, type CpuQuotaGroup } from '@cleave/cli';
import type { FromWorker, RunResult, ToWorker } from './worker-protocol.js';

/** The parent's handle on the worker. */
export interface EdgeWorker {
  run(message: Omit<Extract<ToWorker, { type: 'run' }>, 'type' | 'seq'>): Promise<RunResult>;
  load(message: Omit<Extract<ToWorker, { type: 'load' }>, 'type' | 'seq'>): Promise<void>;
  status(): Promise<Extract<FromWorker, { type: 'status' }>>;
  close(): Promise<void>;
}

/** Spawns the worker (node with the tsx loader, so no second process sits in between) and sends `init`. */
export async function startEdgeWorker(
  group: CpuQuotaGroup,
  init: Extract<ToWorker, { type: 'init' }>,
): Promise<EdgeWorker> {
  const child: ChildProcess = group.spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'bench', 'side-by-side', 'edge-worker.ts')],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const waiting = new Map<number | 'ready', { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let exited: Error | undefined;
  child.on('message', (raw) => {
    const m = raw as FromWorker;
    const key = m.type === 'ready' ? 'ready' : m.seq;
    if (m.type === 'failed' && key === null) {
      for (const w of waiting.values()) w.reject(new Error(`edge worker: ${m.message}`));
      waiting.clear();
      return;
    }
    const w = waiting.get(key ?? -1);
    waiting.delete(key ?? -1);
    if (m.type === 'failed') w?.reject(new Error(`edge worker: ${m.message}`));
    else w?.resolve(m);
  });
  child.once('exit', (code) => {
    exited = new Error(`edge worker exited (${code})`);
    for (const w of waiting.values()) w.reject(exited);
    waiting.clear();
  });
  const call = (key: number | 'ready', message: ToWorker): Promise<FromWorker> =>
    new Promise((resolve, reject) => {
      if (exited) return reject(exited);
      waiting.set(key, { resolve, reject });
      child.send(message);
    });
  await call('ready', init);
  return {
    async run(message) {
      const s = ++seq;
      const reply = await call(s, { type: 'run', seq: s, ...message });
      if (reply.type !== 'ran') throw new Error(`unexpected ${reply.type}`);
      return reply.result;
    },
    async load(message) {
      const s = ++seq;
      const reply = await call(s, { type: 'load', seq: s, ...message });
      if (reply.type !== 'loaded') throw new Error(`unexpected ${reply.type}`);
    },
    async status() {
      const s = ++seq;
      const reply = await call(s, { type: 'status', seq: s });
      if (reply.type !== 'status') throw new Error(`unexpected ${reply.type}`);
      return reply;
    },
    async close() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'close' } satisfies ToWorker);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
