#!/usr/bin/env node
// The `cleave` binary. The only module that reads process.argv, process.env and signals; commands get a CliContext.
// Commands load lazily, the way npm loads its own: only the module of the command being run is imported, so
// `cleave edge` never loads the partitioner, the console or the cloud service. Without a command (`cleave
// --help`), each command is listed from the table below without loading any of them.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import {
  type CommandContext,
  createProcessContext,
  integerOption,
  runCommandLine,
} from '@cleave/node-runtime/command-line';
import type { CliContext } from './cli-context.js';

type Register = (program: Command, ctx: CliContext) => void;

/** Every command: a one-line summary for the top-level help, and how to load its registration. */
const COMMANDS: Readonly<Record<string, { readonly summary: string; readonly load: () => Promise<Register> }>> = {
  demo: {
    summary: 'the main job: NATS, partition + publish, a cloud replica, 3 edge agents on emulated links, the console',
    load: async () => (await import('./commands/demo-command.js')).registerDemoCommand,
  },
  nats: {
    summary: 'run a local nats-server (JetStream, 8 MiB max_payload) in the foreground',
    load: async () => (await import('./commands/nats-command.js')).registerNatsCommand,
  },
  evaluate: {
    summary: 'top-1 accuracy of every output of ONNX image classifiers on an IDX split',
    load: async () => (await import('./commands/evaluate-command.js')).registerEvaluateCommand,
  },
  partition: {
    summary: 'find split points, cut heads and tails, measure, plan, and write a bundle',
    load: async () => (await import('./commands/partition-command.js')).registerPartitionCommand,
  },
  profile: {
    summary: 'measure every split candidate of a model on this machine',
    load: async () => (await import('./commands/profile-command.js')).registerProfileCommand,
  },
  plan: {
    summary: "re-plan a bundle's candidates for given profiles and link",
    load: async () => (await import('./commands/plan-command.js')).registerPlanCommand,
  },
  publish: {
    summary: 'verify a bundle, upload it to the NATS object store and make it current',
    load: async () => (await import('./commands/publish-command.js')).registerPublishCommand,
  },
  infer: {
    summary: "send an image, .npy or JSON file to an edge agent's HTTP API and print the outputs",
    load: async () => (await import('./commands/infer-command.js')).registerInferCommand,
  },
  keys: {
    summary: 'make a bundle publisher key pair (cleave keys new --out <file>)',
    load: async () => (await import('./commands/keys-command.js')).registerKeysCommand,
  },
  fleet: {
    summary: 'operator/JWT mode: create a fleet, issue agent and service creds, revoke them',
    load: async () => (await import('./commands/fleet-command.js')).registerFleetCommand,
  },
  cloud: {
    summary: 'run a cloud replica of the tail service (also: cleave-cloud)',
    load: async () => subcommand('cloud', (await import('@cleave/cloud-service/cli')).defineCloudCommand),
  },
  edge: {
    summary: 'run the edge agent daemon (also: cleave-edge)',
    load: async () => subcommand('edge', (await import('@cleave/edge-agent/cli')).defineEdgeCommand),
  },
  console: {
    summary: 'serve the operator console (also: cleave-console)',
    load: async () => subcommand('console', (await import('@cleave/console/cli')).defineConsoleCommand),
  },
};

function subcommand(name: string, define: (command: Command, ctx: CommandContext) => Command): Register {
  return (program, ctx) => void define(program.command(name), ctx);
}

/** The command named on the command line, skipping the global option and its value. */
function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--nats-server-bin') i++;
    else if (arg === 'help') return argv.slice(i + 1).find((a) => !a.startsWith('-')) ?? arg;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/** The cli package's version, read beside the compiled main.js (cli/dist/main.js → cli/package.json). */
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

const processContext = createProcessContext();
const program = new Command('cleave')
  .version(version, '-V, --version', 'print the cleave version and exit')
  .description(
    'Cleave: edge-cloud split inference. Partition ONNX models, exit early on the edge, finish in the cloud over NATS.',
  )
  .option('--nats-server-bin <path>', 'nats-server binary (default: NATS_SERVER_BIN, then PATH and /usr/sbin)');

const ctx: CliContext = {
  ...processContext,
  get natsServerBin() {
    return (
      (program.opts<{ natsServerBin?: string }>().natsServerBin ?? processContext.env['NATS_SERVER_BIN']) || undefined
    );
  },
  parseInteger: integerOption,
};

const chosen = commandName(process.argv.slice(2));
const entry = chosen === undefined ? undefined : COMMANDS[chosen];
if (entry !== undefined) {
  (await entry.load())(program, ctx);
} else {
  // Listing only: unknown names still get commander's "unknown command" error with this list.
  for (const [name, { summary }] of Object.entries(COMMANDS)) program.command(name).description(summary);
}
await runCommandLine(program, processContext);
