// Runs simulated-agents.ts in child processes (tsx, as the bench itself runs), waits until each has connected its
// agents, and collects the figures each prints when stopped.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { SimulatorFigures } from './simulated-agents.js';

/** The running simulator processes. */
export interface Simulators {
  /** Agents connected over all processes. */
  readonly connected: number;
  /** Process ids of the simulator processes, for their CPU. */
  readonly pids: readonly number[];
  /** Stops every process and sums their figures. */
  finish(): Promise<Pick<SimulatorFigures, 'heartbeats' | 'tails'>>;
}

/** Starts one process per spec file and resolves once every one has printed its `ready` line. */
export async function startSimulators(specFiles: readonly string[], script: string): Promise<Simulators> {
  const children = specFiles.map((spec) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, spec], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<number>((resolve, reject) => {
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { ready?: number };
        if (msg.ready !== undefined) resolve(msg.ready);
      });
      child.once('exit', (code) => reject(new Error(`simulator ${spec} exited with ${code} before it was ready`)));
    });
    const figures = new Promise<SimulatorFigures>((resolve, reject) => {
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as Partial<SimulatorFigures>;
        if (msg.heartbeats !== undefined) resolve(msg as SimulatorFigures);
      });
      child.once('exit', (code) => reject(new Error(`simulator ${spec} exited with ${code} without figures`)));
    });
    figures.catch(() => undefined);
    return { child, ready, figures };
  });
  const connected = (await Promise.all(children.map((c) => c.ready))).reduce((a, b) => a + b, 0);
  return {
    connected,
    pids: children.map((c) => c.child.pid!),
    async finish() {
      for (const c of children) c.child.kill('SIGTERM');
      const all = await Promise.all(children.map((c) => c.figures));
      return sumFigures(all);
    },
  };
}

/** Sums counts; latency quantiles are the worst process's (a conservative merge without the raw samples). */
function sumFigures(all: readonly SimulatorFigures[]): Pick<SimulatorFigures, 'heartbeats' | 'tails'> {
  const sum = (pick: (f: SimulatorFigures) => number) => all.reduce((a, f) => a + pick(f), 0);
  const worst = (pick: (f: SimulatorFigures) => number) => Math.max(...all.map(pick).filter(Number.isFinite));
  const errors: Record<string, number> = {};
  for (const f of all) for (const [code, n] of Object.entries(f.tails.errors)) errors[code] = (errors[code] ?? 0) + n;
  return {
    heartbeats: {
      attempted: sum((f) => f.heartbeats.attempted),
      written: sum((f) => f.heartbeats.written),
      failed: sum((f) => f.heartbeats.failed),
      putP50Ms: worst((f) => f.heartbeats.putP50Ms),
      putP95Ms: worst((f) => f.heartbeats.putP95Ms),
    },
    tails: {
      sent: sum((f) => f.tails.sent),
      answered: sum((f) => f.tails.answered),
      failed: sum((f) => f.tails.failed),
      errors,
      p50Ms: worst((f) => f.tails.p50Ms),
      p95Ms: worst((f) => f.tails.p95Ms),
    },
  };
}
