import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createPublisherKey } from '@cleave/node-runtime';
import type { CliContext } from '../cli-context.js';

interface KeysNewOptions {
  out: string;
  force: boolean;
}

/** Registers `cleave keys new`: a bundle publisher's Ed25519 key pair (an nkey of the account kind). */
export function registerKeysCommand(program: Command, _ctx: CliContext): void {
  const keys = program.command('keys').description('Manage bundle publisher keys (Ed25519 nkeys).');
  keys
    .command('new')
    .description(
      'Make a publisher key pair: the seed goes to --out (mode 0600; pass it to publish or partition --sign-key), ' +
        'the public key is printed (list it in bundles.trustedPublishers of the agents and replicas).',
    )
    .requiredOption('--out <file>', 'file to write the seed to (created with mode 0600)')
    .option('--force', 'replace --out if it exists', false)
    .action(async (opts: KeysNewOptions) => {
      const path = resolve(opts.out);
      const key = createPublisherKey();
      try {
        // 'wx' never overwrites a key by accident: losing a seed means re-signing every bundle with a new one.
        await writeFile(path, `${key.seed}\n`, { mode: 0o600, flag: opts.force ? 'w' : 'wx' });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const reason = code === 'EEXIST' ? 'it already exists (pass --force to replace it)' : (error as Error).message;
        throw new Error(`--out ${opts.out}: cannot write the seed: ${reason}`, { cause: error });
      }
      // Only the public key on stdout, so `KEY=$(cleave keys new --out f)` works; the note goes to stderr.
      process.stderr.write(`seed written to ${path} (mode 0600, keep it secret); public key:\n`);
      process.stdout.write(`${key.publicKey}\n`);
    });
}
