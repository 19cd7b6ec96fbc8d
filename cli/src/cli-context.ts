import type { CommandContext } from '@cleave/node-runtime/command-line';

/** What every `cleave` subcommand receives from main: the process-level facts, so commands never read globals. */
export interface CliContext extends CommandContext {
  /** Explicit nats-server binary path (from --nats-server-bin or NATS_SERVER_BIN), if any. */
  readonly natsServerBin: string | undefined;
  /** Commander argument parser for a bounded integer option; rejects anything else with a clear message. */
  parseInteger(name: string, min: number, max: number): (value: string) => number;
}
