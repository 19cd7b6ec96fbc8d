// `cleave edge` and `cleave-edge`: the flags, here; the agent itself is imported only when the command runs, so a
// program that merely lists its commands never loads onnxruntime, NATS or OpenTelemetry.
import type { Command } from 'commander';
import { addConfigFlags, type CommandContext, type ConfigFlagSpec } from '@cleave/node-runtime/command-line';

/** Flags of `cleave edge` and the config paths they set. */
export const EDGE_FLAGS: readonly ConfigFlagSpec[] = [
  ['--agent-id <id>', 'agentId', 'required: this agent id (heartbeat key, local NATS subject)'],
  ['--nats-url <urls>', 'nats.servers', 'NATS server URLs, comma-separated'],
  ['--prefix <prefix>', 'prefix', 'subject prefix and bucket stem'],
  ['--model <models>', 'models', 'required: models to serve, comma-separated; `id:split` pins a split'],
  ['--cache-dir <dir>', 'cacheDir', 'where fetched bundles are kept (a restart offline serves from here)'],
  ['--http-host <host>', 'http.host', 'interface of the local API (default 127.0.0.1)'],
  ['--http-port <port>', 'http.port', 'port of the local API (0: any free port)'],
  ['--battery-path <dir>', 'battery.path', 'power-supply directory (default /sys/class/power_supply)'],
  ['--deadline-ms <ms>', 'policy.deadlineMs', 'default request deadline'],
  ['--otlp-endpoint <url>', 'telemetry.otlpEndpoint', 'OTLP/HTTP collector for traces and metrics'],
  ['--creds <file>', 'nats.credsFile', 'NATS credentials file (JWT + nkey)'],
];

/** Makes `command` the edge agent daemon: serves until SIGINT or SIGTERM, then drains. */
export function defineEdgeCommand(command: Command, ctx: CommandContext): Command {
  command
    .description(
      'Run the edge agent: local inference API, early exits, offload over NATS with local fallback, ' +
        'bandwidth- and battery-driven control, heartbeats; drains on SIGTERM.',
    )
    .option('--config <file>', 'YAML configuration; env and flags override it');
  addConfigFlags(command, EDGE_FLAGS);
  command.option('--no-http', 'do not serve the local HTTP API');
  command.option('--no-nats-api', 'do not serve the local API on NATS');
  return command.action(async (opts: Record<string, unknown>) => {
    const { runEdgeAgent } = await import('./run-edge-agent.js');
    await runEdgeAgent(opts, ctx);
  });
}
