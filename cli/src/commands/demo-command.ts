import { InvalidArgumentError, type Command } from 'commander';
import { DEBIAN_FASHION_MNIST_DIR } from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';
import { DEMO_AGENTS } from '../demo/demo-agents-spec.js';
import { runDemo } from '../demo/run-demo.js';
import type { StreamEnd } from '../demo/demo-stream.js';
import { DEVICE_CLASS_NAMES, DEVICE_CLASSES, deviceClass } from '../device-classes.js';
import { HEAVY_EXAMPLE_WITH_EXITS } from '../example-paths.js';
import { LinkMode } from '../link/link-types.js';

interface DemoFlags {
  model: string;
  data: string;
  once: boolean;
  images?: number;
  duration?: number;
  rate: number;
  link: LinkMode;
  device: string;
  edgeCores?: number;
  cutSeconds: number;
  pin: boolean;
  profileRuns: number;
  consoleHost: string;
  consolePort: number;
  consoleToken?: string;
}

/** Images `--once` streams when `--images` is not given. */
export const DEFAULT_ONCE_IMAGES = 1500;

function parseLinkMode(value: string): LinkMode {
  const modes = Object.values(LinkMode) as string[];
  if (!modes.includes(value))
    throw new InvalidArgumentError(`--link must be one of ${modes.join(', ')}, got '${value}'`);
  return value as LinkMode;
}

function numberIn(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`--${name} must be a number from ${min} to ${max}, got '${value}'`);
    }
    return n;
  };
}

/**
 * Registers `cleave demo`, the README's main job: NATS, a calibrated bundle, a cloud replica, the console and three
 * gateways on emulated links and batteries, streaming Fashion-MNIST t10k with a live summary and a link cut.
 */
export function registerDemoCommand(program: Command, ctx: CliContext): void {
  const gateways = DEMO_AGENTS.map((a) => `${a.id} (${a.label}, ${a.link.rateMbps} Mbps, ${a.link.delayMs} ms)`);
  program
    .command('demo')
    .description(
      'The main job: start nats-server; partition the heavier example model (exits calibrated on Fashion-MNIST ' +
        'train, edge profiled under the device class CPU quota) and publish it; start a cloud replica, the console and three edge ' +
        `agents on emulated links and batteries: ${gateways.join(', ')}; stream t10k images through them with a ` +
        'live summary, cutting one link partway through. Serves until Ctrl-C unless --once or --duration.',
    )
    .option('--once', `stream --images t10k images once, print the summary table and exit`, false)
    .option(
      '--images <n>',
      `images --once streams, across all gateways (t10k has 10000) (default: ${DEFAULT_ONCE_IMAGES})`,
      ctx.parseInteger('images', 1, 1_000_000),
    )
    .option(
      '--duration <seconds>',
      'stream for this long, print the summary and exit',
      ctx.parseInteger('duration', 1, 7 * 24 * 3600),
    )
    .option(
      '--rate <n>',
      'requests per second per gateway; 0 = next as soon as answered',
      numberIn('rate', 0, 10_000),
      5,
    )
    .option(
      '--link <mode>',
      'link emulation: kernel (netns + tc tbf, root), userspace (TCP proxy), auto',
      parseLinkMode,
      'auto' as LinkMode,
    )
    .option(
      '--device <class>',
      `device class of the gateways: ${DEVICE_CLASS_NAMES.map((n) => `${n} (${DEVICE_CLASSES[n].cores} core)`).join(', ')}`,
      'pi',
    )
    .option(
      '--edge-cores <cores>',
      "CPU of each emulated gateway as a cgroup quota (root only), instead of the device class's",
      numberIn('edge-cores', 0.01, 64),
    )
    .option(
      '--cut-seconds <s>',
      'at 40% of the run, cut the link of the gateway that has offloaded most (gw-wifi on a tie) this long (0: no cut)',
      numberIn('cut-seconds', 0, 3600),
      5,
    )
    .option(
      '--pin',
      'pin gw-wifi past the first exit and gw-4g past both (default: every gateway follows its plan)',
      false,
    )
    .option(
      '--profile-runs <n>',
      'timed runs per head and tail when profiling',
      ctx.parseInteger('profile-runs', 1, 1000),
      5,
    )
    .option(
      '--model <file>',
      'ONNX model with early exits, input [N,1,S,S] (S ≥ 28; the 28×28 images are upsampled bilinearly to S)',
      HEAVY_EXAMPLE_WITH_EXITS,
    )
    .option(
      '--data <dir>',
      'Fashion-MNIST IDX directory (train calibrates, t10k is streamed)',
      DEBIAN_FASHION_MNIST_DIR,
    )
    .option('--console-host <host>', 'interface the console binds', '127.0.0.1')
    .option(
      '--console-port <port>',
      'console HTTP port (0: any free port; a busy port falls back to a free one)',
      ctx.parseInteger('console-port', 0, 65535),
      8080,
    )
    .option('--console-token <token>', 'console login token (default: a random one, printed)')
    .action(async (flags: DemoFlags) => {
      if (flags.once && flags.duration !== undefined) throw new Error('--once and --duration exclude each other');
      if (flags.images !== undefined && !flags.once) throw new Error('--images applies to --once runs only');
      const device = deviceClass(flags.device);
      const end: StreamEnd = flags.once
        ? { images: flags.images ?? DEFAULT_ONCE_IMAGES }
        : flags.duration !== undefined
          ? { durationMs: flags.duration * 1000 }
          : 'never';
      const result = await runDemo(
        {
          model: flags.model,
          data: flags.data,
          end,
          ratePerAgent: flags.rate,
          link: flags.link,
          device,
          edgeCores: flags.edgeCores ?? device.cores,
          cutSeconds: flags.cutSeconds,
          pin: flags.pin,
          profileRuns: flags.profileRuns,
          consoleHost: flags.consoleHost,
          consolePort: flags.consolePort,
          consoleToken: flags.consoleToken,
        },
        {
          log: ctx.log,
          interactive: ctx.interactive,
          natsServerBin: ctx.natsServerBin,
          env: ctx.env,
          shutdownSignal: ctx.shutdownSignal,
          out: (text) => void process.stdout.write(text),
        },
      );
      if (result.interrupted) ctx.log.info('demo interrupted; everything it started is stopped');
    });
}
