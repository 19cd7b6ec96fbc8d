// `cleave cloud` and `cleave-cloud`: the flags, here; the replica itself is imported only when the command runs,
// so a program that merely lists its commands never loads onnxruntime, NATS or OpenTelemetry.
import type { Command } from 'commander';
import { addConfigFlags, type CommandContext, type ConfigFlagSpec } from '@cleave/node-runtime/command-line';

/** Flags of `cleave cloud` and the config paths they set. */
export const CLOUD_FLAGS: readonly ConfigFlagSpec[] = [
  ['--nats-url <urls>', 'nats.servers', 'NATS server URLs, comma-separated'],
  ['--prefix <prefix>', 'prefix', 'subject prefix and bucket stem'],
  ['--replica <name>', 'replica', 'replica name in replies and logs (default: host-pid)'],
  ['--max-batch-size <n>', 'batching.maxBatchSize', 'most samples per tail run'],
  ['--max-queue-delay-us <us>', 'batching.maxQueueDelayUs', 'longest wait for a fuller batch, in microseconds'],
  ['--max-queue-requests <n>', 'batching.maxQueueRequests', 'queued requests per tail before `overloaded`'],
  ['--max-in-flight <n>', 'limits.maxInFlight', 'requests held at once before `overloaded`'],
  ['--max-in-flight-bytes <size>', 'limits.maxInFlightBytes', 'bytes of requests held at once, e.g. 256MiB'],
  ['--tail-memory <size>', 'limits.tailMemory', 'ONNX bytes of tails kept loaded, e.g. 512MiB'],
  ['--cache-dir <dir>', 'cache.dir', 'where the replica keeps tail graphs and weights files (default: temp dir)'],
  ['--intra-op-threads <n>', 'onnx.intraOpThreads', 'onnxruntime threads per run (0: all cores)'],
  ['--http-host <host>', 'http.host', 'interface of /livez, /readyz and /metrics'],
  ['--http-port <port>', 'http.port', 'port of /livez, /readyz and /metrics (0: any free port)'],
  ['--otlp-endpoint <url>', 'telemetry.otlpEndpoint', 'OTLP/HTTP collector for traces and metrics'],
  ['--creds <file>', 'nats.credsFile', 'NATS credentials file (JWT + nkey)'],
];

/** Makes `command` the cloud replica: one replica of the tail service, until SIGINT or SIGTERM, then a drain. */
export function defineCloudCommand(command: Command, ctx: CommandContext): Command {
  command
    .description(
      'Run a cloud replica: serve tails over NATS (queue group cleave-tail) with dynamic batching; drain on SIGTERM.',
    )
    .option('--config <file>', 'YAML configuration; env and flags override it');
  addConfigFlags(command, CLOUD_FLAGS);
  command.option('--no-http', 'do not serve /livez, /readyz and /metrics');
  command.option('--no-prewarm', 'load tails only when a request asks, not when their version becomes current');
  return command.action(async (opts: Record<string, unknown>) => {
    const { runCloudReplica } = await import('./run-cloud-replica.js');
    await runCloudReplica(opts, ctx);
  });
}
