#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { integerOption, type CliContext } from './cli-context.js';
import { registerCloudCommand } from './commands/cloud-command.js';
import { registerConsoleCommand } from './commands/console-command.js';
import { registerDemoCommand } from './commands/demo-command.js';
import { registerEdgeCommand } from './commands/edge-command.js';
import { registerEvaluateCommand } from './commands/evaluate-command.js';
import { registerNatsCommand } from './commands/nats-command.js';
import { registerPartitionCommand } from './commands/partition-command.js';
import { registerPlanCommand } from './commands/plan-command.js';
import { registerProfileCommand } from './commands/profile-command.js';
import { registerPublishCommand } from './commands/publish-command.js';
import { createLogger } from './logger.js';

// The only module that reads process.argv, process.env and signals; commands get a CliContext.
const log = createLogger({ level: process.env['CLEAVE_LOG_LEVEL'] ?? 'info' });

const shutdownSignal = new Promise<string>((resolve) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
});

const program = new Command('cleave')
  .description(
    'Cleave: edge-cloud split inference. Partition ONNX models, exit early on the edge, finish in the cloud over NATS.',
  )
  .option('--nats-server-bin <path>', 'nats-server binary (default: NATS_SERVER_BIN, then PATH and /usr/sbin)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const ctx: CliContext = {
  log,
  get natsServerBin() {
    return (program.opts<{ natsServerBin?: string }>().natsServerBin ?? process.env['NATS_SERVER_BIN']) || undefined;
  },
  shutdownSignal,
  env: process.env,
  interactive: process.stderr.isTTY === true,
  parseInteger: integerOption,
};

registerDemoCommand(program, ctx);
registerNatsCommand(program, ctx);
registerEvaluateCommand(program, ctx);
registerPartitionCommand(program, ctx);
registerProfileCommand(program, ctx);
registerPlanCommand(program, ctx);
registerPublishCommand(program, ctx);
registerCloudCommand(program, ctx);
registerEdgeCommand(program, ctx);
registerConsoleCommand(program, ctx);

try {
  await program.parseAsync(process.argv);
  process.exit(0);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const e = err as Error;
  // One line, always: multi-line messages (schema issue lists) are joined so logs and shells stay tidy.
  const message = e.message.trim().replace(/\s*\n\s*/g, '; ');
  process.stderr.write(`cleave: ${e.name !== 'Error' ? `${e.name}: ` : ''}${message}\n`);
  log.debug({ err: e }, 'command failed');
  process.exit(1);
}
