// `cleave cloud` as a child process, the way Kubernetes or systemd runs it: wait for its ready log line, read its
// health URL, send it signals, collect its JSON logs and exit code.
import type { ChildProcess } from 'node:child_process';
import { startCleave } from './run-cli.js';

/** A running `cleave cloud` process. */
export interface CloudProcess {
  readonly child: ChildProcess;
  /** Base URL of /livez, /readyz and /metrics. */
  readonly httpUrl: string;
  /** Parsed JSON log lines so far. */
  readonly logs: readonly Record<string, unknown>[];
  /** Resolves with the exit code once the process ends. */
  readonly exited: Promise<number | null>;
  stderr(): string;
}

/** Starts `cleave cloud ...args` and resolves when it logs `cloud replica ready`; rejects if it exits first. */
export async function startCloudProcess(args: string[], env?: NodeJS.ProcessEnv): Promise<CloudProcess> {
  const child = startCleave(['cloud', ...args], env);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  let pending = '';
  let httpUrl = '';
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry['msg'] === 'health and metrics listening') httpUrl = String(entry['url']);
        if (entry['msg'] === 'cloud replica ready') resolve();
      }
    });
    void exited.then((code) => reject(new Error(`cleave cloud exited with ${code} before ready: ${stderr}`)));
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await ready;
  return { child, httpUrl, logs, exited, stderr: () => stderr };
}
