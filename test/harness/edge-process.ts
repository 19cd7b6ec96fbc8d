import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCleaveUntil } from './run-cli.js';

/** A running `cleave edge` process and the local API it serves. */
export interface EdgeProcess {
  readonly agentId: string;
  /** The agent's local HTTP API, e.g. `http://127.0.0.1:PORT`. */
  readonly httpUrl: string;
  readonly child: ChildProcess;
  /** Sends SIGTERM and resolves with the exit code once the agent has drained. */
  stop(): Promise<number | null>;
}

/** Where and how a test edge agent runs. */
export interface EdgeProcessOptions {
  readonly agentId: string;
  readonly natsUrl: string;
  readonly prefix: string;
  /** A scratch directory of the test: the config file and the bundle cache go here. */
  readonly workDir: string;
  readonly model?: string;
  /** Pins the model to this split (the `pin` of its entry in `models`). */
  readonly pin?: string;
  /** Heartbeats this often, so a console sees changes within a second. */
  readonly heartbeatIntervalMs?: number;
  /** More top-level config sections (e.g. `control`), written as they are. */
  readonly config?: Readonly<Record<string, unknown>>;
}

/**
 * Starts `cleave edge` exactly as a gateway would (a config file plus flags) on a free port, on mains power,
 * and resolves once it logs `edge agent started`.
 */
export async function startEdgeProcess(options: EdgeProcessOptions): Promise<EdgeProcess> {
  const config = join(options.workDir, `${options.agentId}.yaml`);
  await writeFile(
    config,
    `agentId: ${options.agentId}\nprefix: ${options.prefix}\nnats:\n  servers: [${options.natsUrl}]\n` +
      `models:\n  - id: ${options.model ?? 'fmnist'}\n${options.pin === undefined ? '' : `    pin: ${options.pin}\n`}cacheDir: ${join(options.workDir, `${options.agentId}-cache`)}\n` +
      `http:\n  port: 0\nbattery:\n  path: ${join(options.workDir, 'no-power-supply')}\n` +
      `heartbeatIntervalMs: ${options.heartbeatIntervalMs ?? 500}\n` +
      // JSON is YAML: each extra section as one flow-style line.
      Object.entries(options.config ?? {})
        .map(([key, value]) => `${key}: ${JSON.stringify(value)}\n`)
        .join(''),
  );
  const { child, value, exited } = await startCleaveUntil(['edge', '--config', config], (entry) =>
    entry['msg'] === 'edge agent started' && typeof entry['http'] === 'string' ? entry['http'] : undefined,
  );
  return {
    agentId: options.agentId,
    httpUrl: value,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
