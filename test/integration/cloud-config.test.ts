// `cleave cloud` validates its configuration once, before connecting anywhere, and lists every problem from the
// file, the environment and the flags in one error, then exits non-zero.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCleave } from '../harness/mod.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-cloud-config-'));
});

describe('cleave cloud: bad configuration', () => {
  it('lists all problems from file, env and flags, and exits 1 without starting', async () => {
    const config = join(work, 'cloud.yaml');
    await writeFile(
      config,
      [
        'prefix: "has.dots"',
        'batching:',
        '  maxBatchSize: 0',
        '  maxQueueDelayMicros: 100',
        'limits:',
        '  tailMemory: plenty',
        'nats:',
        '  user: alice',
        '',
      ].join('\n'),
    );
    const res = await runCleave(['cloud', '--config', config, '--http-port', 'eighty', '--max-in-flight', '-5'], {
      env: { CLEAVE_MAX_QUEUE_REQUESTS: 'lots', NATS_URL: 'not a url' },
      timeoutMs: 20_000,
    });
    expect(res.code).toBe(1);
    expect(res.stdout).not.toContain('cloud replica ready');
    // The cli prints one line: `...(9 problems): - first; - second`.
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    const line = res.stderr.trim();
    const head = line.slice(0, line.indexOf(' - '));
    const problems = line.slice(line.indexOf(' - ') + 3).split('; - ');
    expect(head).toBe('cleave: ConfigError: invalid configuration (9 problems):');
    expect(problems).toHaveLength(9);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^prefix: must be 1-128 characters .* \(from .*cloud\.yaml\)$/),
        expect.stringMatching(/^nats\.servers\.0: must be a NATS URL .* \(from env NATS_URL\)$/),
        expect.stringMatching(/^batching\.maxBatchSize: .* \(from .*cloud\.yaml\)$/),
        expect.stringMatching(/^batching\.maxQueueDelayMicros: unknown setting \(from .*cloud\.yaml\)$/),
        expect.stringMatching(
          /^batching\.maxQueueRequests: expected number, received string \(from env CLEAVE_MAX_QUEUE_REQUESTS\)$/,
        ),
        expect.stringMatching(/^limits\.maxInFlight: .* \(from flag --max-in-flight\)$/),
        expect.stringMatching(/^limits\.tailMemory: "plenty" is not a size/),
        expect.stringMatching(/^http\.port: expected number, received string \(from flag --http-port\)$/),
        expect.stringMatching(/^nats\.pass: user and pass go together \(from .*cloud\.yaml\)$/),
      ]),
    );
  });

  it('fails with one clear line when the config file does not exist', async () => {
    const res = await runCleave(['cloud', '--config', join(work, 'missing.yaml')], { timeoutMs: 20_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      /^cleave: ConfigError: invalid configuration \(1 problem\): - .*missing\.yaml: cannot read the config file: ENOENT/,
    );
  });

  it('documents its flags in --help', async () => {
    const res = await runCleave(['cloud', '--help']);
    expect(res.code).toBe(0);
    for (const flag of [
      '--config',
      '--nats-url',
      '--max-batch-size',
      '--max-queue-delay-us',
      '--tail-memory',
      '--no-http',
    ]) {
      expect(res.stdout).toContain(flag);
    }
  });
});
