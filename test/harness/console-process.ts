import type { ChildProcess } from 'node:child_process';
import { startCleaveUntil } from './run-cli.js';

/** A running `cleave console` process and the URL it serves. */
export interface ConsoleProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<number | null>;
}

/** Starts `cleave console` on a free port and resolves once it logs `console ready`. `args` are extra flags. */
export async function startConsoleProcess(
  natsUrl: string,
  prefix: string,
  token: string,
  env?: NodeJS.ProcessEnv,
  args: readonly string[] = [],
): Promise<ConsoleProcess> {
  const { child, value, exited } = await startCleaveUntil(
    ['console', '--nats-url', natsUrl, '--prefix', prefix, '--port', '0', '--token', token, ...args],
    (entry) => (entry['msg'] === 'console ready' && typeof entry['url'] === 'string' ? entry['url'] : undefined),
    env,
  );
  return {
    url: value,
    child,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
