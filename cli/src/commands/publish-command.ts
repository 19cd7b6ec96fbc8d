import { resolve } from 'node:path';
import type { Command } from 'commander';
import { connectNats, publishBundle, readPublisherSeed } from '@cleave/node-runtime';
import type { CliContext } from '../cli-context.js';

interface PublishCommandOptions {
  natsUrl?: string;
  prefix: string;
  creds?: string;
  user?: string;
  password?: string;
  token?: string;
  current: boolean;
  signKey?: string;
}

/** Registers `cleave publish`: verify a bundle directory, upload it to the store, and make it current. */
export function registerPublishCommand(program: Command, ctx: CliContext): void {
  program
    .command('publish')
    .description(
      'Verify a bundle (every sha256), upload it to the NATS object store, set it current in KV, and announce it.',
    )
    .argument('<bundle-dir>', 'bundle directory written by `cleave partition`')
    .option('--nats-url <urls>', 'NATS server URLs, comma-separated (default: NATS_URL, then nats://127.0.0.1:4222)')
    .option('--prefix <prefix>', 'subject prefix and bucket stem', 'cleave')
    .option('--creds <file>', 'NATS credentials file (default: CLEAVE_NATS_CREDS)')
    .option('--user <user>', 'NATS user (default: CLEAVE_NATS_USER)')
    .option('--password <password>', 'NATS password (default: CLEAVE_NATS_PASS)')
    .option('--token <token>', 'NATS token (default: CLEAVE_NATS_TOKEN)')
    .option('--no-current', 'upload only; do not switch the current version or announce it')
    .option(
      '--sign-key <seedfile>',
      'publisher seed (cleave keys new): upload the manifest signed by it, so agents and replicas that trust its ' +
        'public key load the bundle',
    )
    .action(async (dir: string, opts: PublishCommandOptions) => {
      const env = ctx.env;
      // Read before connecting: a bad key file fails fast, naming the file.
      const signingKey = opts.signKey === undefined ? undefined : await readPublisherSeed(opts.signKey);
      const user = opts.user ?? env['CLEAVE_NATS_USER'];
      const pass = opts.password ?? env['CLEAVE_NATS_PASS'];
      const token = opts.token ?? env['CLEAVE_NATS_TOKEN'];
      const credsFile = opts.creds ?? env['CLEAVE_NATS_CREDS'];
      const nc = await connectNats(
        {
          servers: (opts.natsUrl ?? env['NATS_URL'] ?? 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()),
          name: 'cleave-publish',
          ...(user ? { user, pass } : {}),
          ...(token ? { token } : {}),
          ...(credsFile ? { credsFile } : {}),
        },
        'cleave-publish',
      );
      try {
        const published = await publishBundle(nc, resolve(dir), {
          prefix: opts.prefix,
          makeCurrent: opts.current,
          ...(signingKey === undefined ? {} : { signingKey }),
          onFile: (path, bytes) => ctx.log.debug({ path, bytes }, 'uploaded'),
        });
        ctx.log.info(
          {
            model: published.model,
            version: published.version,
            manifestSha256: published.manifestSha256,
            files: published.files,
            bytes: published.bytes,
            current: published.announcement !== undefined,
            signedBy: published.signedBy ?? null,
          },
          'bundle published',
        );
      } finally {
        await nc.drain();
      }
    });
}
