import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '@cleave/cli';
import { testTrustEnv } from './bundle-signing.js';

/** Path of the built `cleave` entry point. */
export const CLEAVE_BIN = join(REPO_ROOT, 'cli', 'dist', 'main.js');

/** Exit status and output of one finished `cleave` run. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cleave ...args` to completion (killing it after `timeoutMs`) and captures its output. */
export function runCleave(
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  const child = startCleave(args, options.env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `cleave ...args` in the background with piped output, for long-running commands. */
export function startCleave(args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLEAVE_BIN, ...args], {
    cwd: REPO_ROOT,
    // Spawned agents and replicas trust the test publisher, unless the test says otherwise.
    env: { ...process.env, ...testTrustEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A long-running `cleave` process, started by {@link startCleaveUntil}. */
export interface RunningCleave<T> {
  readonly child: ChildProcess;
  /** What the awaited log line gave. */
  readonly value: T;
  /** Resolves with the exit code once the process has closed. */
  readonly exited: Promise<number | null>;
}

/**
 * Starts `cleave ...args` and resolves once a JSON log line on stdout makes `pick` return a value; rejects with
 * the process's stderr if it exits first.
 */
export async function startCleaveUntil<T>(
  args: string[],
  pick: (entry: Record<string, unknown>) => T | undefined,
  env?: NodeJS.ProcessEnv,
): Promise<RunningCleave<T>> {
  const child = startCleave(args, env);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const value = await new Promise<T>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const picked = pick(JSON.parse(line) as Record<string, unknown>);
      if (picked !== undefined) resolve(picked);
    });
    void exited.then((code) => reject(new Error(`cleave ${args[0]} exited with ${code}: ${stderr}`)));
  });
  return { child, value, exited };
}
