// `cleave keys new` and the `--sign-key` flags, as an operator runs them: the files written, what is printed, and
// one-line errors for bad input.
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { publisherPublicKey } from '@cleave/node-runtime';
import { runCleave } from '../harness/mod.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-keys-'));
});

describe('cleave keys new', () => {
  it('writes the seed with mode 0600 and prints the public key', async () => {
    const out = join(work, 'publisher.nk');
    const res = await runCleave(['keys', 'new', '--out', out]);
    expect(res.code, res.stderr).toBe(0);
    const publicKey = res.stdout.trim();
    expect(publicKey).toMatch(/^A[A-Z2-7]{55}$/);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const seed = (await readFile(out, 'utf8')).trim();
    expect(seed).toMatch(/^SA[A-Z2-7]{56}$/);
    expect(publisherPublicKey(seed)).toBe(publicKey);
    console.log(`keys new: seed file mode ${((await stat(out)).mode & 0o777).toString(8)}, public key ${publicKey}`);
  });

  it('never overwrites a seed without --force, in one line', async () => {
    const out = join(work, 'kept.nk');
    expect((await runCleave(['keys', 'new', '--out', out])).code).toBe(0);
    const before = await readFile(out, 'utf8');
    const again = await runCleave(['keys', 'new', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain(
      `--out ${out}: cannot write the seed: it already exists (pass --force to replace it)`,
    );
    expect(await readFile(out, 'utf8')).toBe(before);
    const forced = await runCleave(['keys', 'new', '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(await readFile(out, 'utf8')).not.toBe(before);
  });

  it('has help, and requires --out', async () => {
    const help = await runCleave(['keys', 'new', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--out <file>');
    const missing = await runCleave(['keys', 'new']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/required option '--out <file>' not specified/);
  });
});

describe('--sign-key', () => {
  it('refuses a key file that is not a publisher seed before doing any work, naming the file', async () => {
    const junk = join(work, 'junk.nk');
    await writeFile(junk, 'hello\n');
    const publish = await runCleave(['publish', work, '--sign-key', junk, '--nats-url', 'nats://127.0.0.1:1']);
    expect(publish.code).toBe(1);
    expect(publish.stderr.trim().split('\n')).toHaveLength(1);
    expect(publish.stderr).toContain(`signing key ${junk} is not an nkey seed`);
    const partition = await runCleave([
      'partition',
      'no-such-model.onnx',
      '--out',
      join(work, 'b'),
      '--sign-key',
      junk,
    ]);
    expect(partition.code).toBe(1);
    expect(partition.stderr).toContain(`signing key ${junk} is not an nkey seed`);
  });
});
