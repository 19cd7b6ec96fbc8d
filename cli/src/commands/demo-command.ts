import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { DEBIAN_FASHION_MNIST_DIR, loadMnistSplit, measureClassifierAccuracy } from '@cleave/partitioner';
import type { CliContext } from '../cli-context.js';
import { startEmbeddedNats } from '../embedded-nats.js';
import { EXAMPLE_MODEL_WITH_EXITS } from '../example-paths.js';
import { createProgress } from '../progress.js';

interface DemoOptions {
  model: string;
  data: string;
  once: boolean;
  duration?: number;
}

/**
 * Registers `cleave demo`, the README's main job. Today it starts NATS, checks JetStream, and scores
 * the example model on real t10k data; partitioning, agents and the cloud join as their issues land.
 */
export function registerDemoCommand(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'The main job on embedded defaults: start nats-server, score the example model on Fashion-MNIST t10k, report status.',
    )
    .option('--model <file>', 'example model with early exits', EXAMPLE_MODEL_WITH_EXITS)
    .option('--data <dir>', 'Fashion-MNIST IDX directory', DEBIAN_FASHION_MNIST_DIR)
    .option('--once', 'report status and exit instead of serving until Ctrl-C', false)
    .option(
      '--duration <seconds>',
      'serve for this many seconds, then exit',
      ctx.parseInteger('duration', 1, 7 * 24 * 3600),
    )
    .action(async (opts: DemoOptions) => {
      await using nats = await startEmbeddedNats({ binary: ctx.natsServerBin });
      const jsz = (await (await fetch(`${nats.monitorUrl}/jsz`)).json()) as { config?: { store_dir?: string } };
      ctx.log.info(
        { url: nats.url, monitorUrl: nats.monitorUrl, jetstream: jsz.config !== undefined },
        'nats-server ready',
      );

      const data = await loadMnistSplit('t10k', opts.data);
      const progress = createProgress('example model on t10k', ctx.interactive);
      const acc = await measureClassifierAccuracy(opts.model, data, {
        onProgress: (done, total) => progress.update(done, total),
      }).finally(() => progress.stop());

      process.stdout.write(
        `\nCleave status\n  nats-server     ${nats.url} (JetStream ${jsz.config ? 'on' : 'off'}, max_payload ${nats.maxPayloadBytes} B)\n`,
      );
      process.stdout.write(
        `  example model   ${opts.model}\n  data            Fashion-MNIST t10k, ${data.count} images\n`,
      );
      for (const o of acc.outputs) {
        process.stdout.write(`    ${o.output.padEnd(8)} top-1 ${(o.top1 * 100).toFixed(2)}%\n`);
      }
      process.stdout.write(
        `  ${(acc.inferenceMs / data.count).toFixed(3)} ms/image on 1 thread\n` +
          '  not yet built: partitioning, edge agents, cloud service, console (see README "Status")\n\n',
      );
      if (opts.once) return;
      ctx.log.info({ url: nats.url }, opts.duration ? `serving for ${opts.duration} s` : 'serving until Ctrl-C');
      await Promise.race([
        ctx.shutdownSignal,
        opts.duration ? sleep(opts.duration * 1000) : new Promise<never>(() => undefined),
      ]);
      ctx.log.info('stopping');
    });
}
