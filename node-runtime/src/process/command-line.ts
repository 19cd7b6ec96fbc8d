// What every Cleave program's `main` does the same way: read the process once (environment, signals, terminal),
// then parse the command line and turn any failure into one line on stderr and a non-zero exit. The `cleave`
// binary and the daemons' own binaries (`cleave-edge`, `cleave-cloud`, `cleave-console`) all start here.
import { type Command, CommanderError, InvalidArgumentError } from 'commander';
import type { ConfigFlagValue } from '@cleave/proto';
import { type CleaveLogger, createLogger } from './logger.js';

/** The process-level facts a command receives, so commands never read globals. */
export interface CommandContext {
  readonly log: CleaveLogger;
  /** Resolves with the signal name on the first SIGINT or SIGTERM. */
  readonly shutdownSignal: Promise<string>;
  /** The process environment: NATS_URL, CLEAVE_* settings, OTEL_* and credentials. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stderr is a terminal, so progress bars are worth drawing. */
  readonly interactive: boolean;
}

/** Reads the process once: the logger (CLEAVE_LOG_LEVEL), the first SIGINT/SIGTERM, the environment and the TTY. */
export function createProcessContext(): CommandContext {
  const shutdownSignal = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
  });
  return {
    log: createLogger({ level: process.env['CLEAVE_LOG_LEVEL'] ?? 'info' }),
    shutdownSignal,
    env: process.env,
    interactive: process.stderr.isTTY === true,
  };
}

/**
 * Parses `process.argv` with `program` and exits: 0 when the action finished, commander's code for usage errors,
 * and 1 with one line `<program>: <Error name>: <message>` for anything thrown.
 */
export async function runCommandLine(program: Command, ctx: CommandContext): Promise<never> {
  program.showHelpAfterError('(run with --help for usage)').exitOverride();
  try {
    await program.parseAsync(process.argv);
    process.exit(0);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const e = err as Error;
    // One line, always: multi-line messages (schema issue lists) are joined so logs and shells stay tidy.
    // One line: a list's header and items joined by '; ' (`problems): - a; - b`, not `problems):; - a`).
    const message = e.message
      .trim()
      .replace(/:\s*\n\s*/g, ': ')
      .replace(/\s*\n\s*/g, '; ');
    process.stderr.write(`${program.name()}: ${e.name !== 'Error' ? `${e.name}: ` : ''}${message}\n`);
    ctx.log.debug({ err: e }, 'command failed');
    process.exit(1);
  }
}

/** Commander's camelCase attribute name of a flag such as `--agent-id <id>` (`agentId`). */
export function flagAttribute(flag: string): string {
  return flag
    .split(' ')[0]!
    .replace(/^--/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A flag that sets one config path: `[flag with its argument, config path, help]`. */
export type ConfigFlagSpec = readonly [flag: string, path: string, help: string];

/** Declares each of `specs` on `command`. Values stay strings: the config schema checks them all at once. */
export function addConfigFlags(command: Command, specs: readonly ConfigFlagSpec[]): Command {
  for (const [flag, , help] of specs) command.option(flag, help);
  return command;
}

/** The config values the user set with the flags of `specs`, each naming its flag for error reports. */
export function configFlagValues(
  opts: Readonly<Record<string, unknown>>,
  specs: readonly ConfigFlagSpec[],
): ConfigFlagValue[] {
  const flags: ConfigFlagValue[] = [];
  for (const [flag, path] of specs) {
    const value = opts[flagAttribute(flag)];
    if (typeof value === 'string') flags.push({ path, value, flag: flag.split(' ')[0]! });
  }
  return flags;
}

/** The flag of each config path in `specs` (`agentId` → `--agent-id`), so a missing value can name its flag. */
export function configFlagNames(specs: readonly ConfigFlagSpec[]): Record<string, string> {
  return Object.fromEntries(specs.map(([flag, path]) => [path, flag.split(' ')[0]!]));
}

/** Commander argument parser for a bounded integer option; rejects anything else naming the flag. */
export function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
    }
    return n;
  };
}
