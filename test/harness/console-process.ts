import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startCleave } from './run-cli.js';

/** A running `cleave console` process and the URL it serves. */
export interface ConsoleProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

/** Starts `cleave console` on a free port and resolves once it logs `console ready`. */
export async function startConsoleProcess(
  natsUrl: string,
  prefix: string,
  token: string,
  env?: NodeJS.ProcessEnv,
): Promise<ConsoleProcess> {
  const child = startCleave(
    ['console', '--nats-url', natsUrl, '--prefix', prefix, '--port', '0', '--token', token],
    env,
  );
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'console ready' && entry.url) resolve(entry.url);
    });
    void exited.then((code) => reject(new Error(`cleave console exited with ${code}: ${stderr}`)));
  });
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
