import { InvalidArgumentError } from 'commander';
import type { CleaveLogger } from './logger.js';

/** What every subcommand receives from main: the process-level facts, so commands never read globals. */
export interface CliContext {
  readonly log: CleaveLogger;
  /** Explicit nats-server binary path (from --nats-server-bin or NATS_SERVER_BIN), if any. */
  readonly natsServerBin: string | undefined;
  /** Resolves with the signal name on the first SIGINT or SIGTERM. */
  readonly shutdownSignal: Promise<string>;
  /** The process environment: NATS_URL, CLEAVE_* settings and credentials. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal, so progress bars are worth drawing. */
  readonly interactive: boolean;
  /** Commander argument parser for a bounded integer option; rejects anything else with a clear message. */
  parseInteger(name: string, min: number, max: number): (value: string) => number;
}

/** Builds the integer parser used by {@link CliContext.parseInteger}. */
export function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
    }
    return n;
  };
}
