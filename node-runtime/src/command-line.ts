/**
 * `@cleave/node-runtime/command-line`: the light part of the runtime that a program loads before it knows which
 * command runs (commander, the logger, config flags). It loads no NATS client, web stack or OpenTelemetry, so
 * `cleave --help` and each command's flag parsing stay fast; commands import the rest when they run.
 */
export { type CleaveLogger } from './process/logger.js';
export {
  addConfigFlags,
  configFlagNames,
  configFlagValues,
  createProcessContext,
  integerOption,
  runCommandLine,
  type CommandContext,
  type ConfigFlagSpec,
} from './process/command-line.js';
