import { mkdtemp, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@cleave/node-runtime';
import { resolveCloudConfig } from '../src/config/resolve-cloud-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cleave-config-'));
});

async function yamlFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function problems(sources: Parameters<typeof resolveCloudConfig>[0]): Promise<readonly string[]> {
  try {
    await resolveCloudConfig(sources);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).name).toBe('ConfigError');
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveCloudConfig: defaults and precedence', () => {
  it('fills every default and freezes the result', async () => {
    const config = await resolveCloudConfig({ defaults: { replica: 'r1' } });
    expect(config.replica).toBe('r1');
    expect(config.prefix).toBe('cleave');
    expect(config.nats.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(config.batching).toEqual({ maxBatchSize: 32, maxQueueDelayUs: 2000, maxQueueRequests: 256 });
    expect(config.limits.tailMemory).toBe(512 * 1024 * 1024);
    expect(config.http).toEqual({ enabled: true, host: '127.0.0.1', port: 9464 });
    expect(Object.isFrozen(config.batching)).toBe(true);
  });

  it('lets env override the file and flags override env', async () => {
    const configPath = await yamlFile(
      'layers.yaml',
      'replica: from-file\nbatching:\n  maxBatchSize: 8\n  maxQueueDelayUs: 100\nlimits:\n  tailMemory: 64MiB\n',
    );
    const config = await resolveCloudConfig({
      configPath,
      env: { CLEAVE_MAX_BATCH_SIZE: '16', NATS_URL: 'nats://a:4222, nats://b:4222', UNRELATED: 'x' },
      flags: [{ path: 'batching.maxBatchSize', value: '4', flag: '--max-batch-size' }],
    });
    expect(config.replica).toBe('from-file');
    expect(config.batching.maxBatchSize).toBe(4);
    expect(config.batching.maxQueueDelayUs).toBe(100);
    expect(config.limits.tailMemory).toBe(64 * 1024 * 1024);
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
  });
});

describe('resolveCloudConfig: expected failure', () => {
  it('lists every problem of every source at once, each with its field and source', async () => {
    const configPath = await yamlFile(
      'bad.yaml',
      [
        'replica: r',
        'prefix: "bad.prefix"',
        'batching:',
        '  maxBatchSize: 0',
        '  maxQueueDelay: 5',
        'limits:',
        '  tailMemory: lots',
        'http:',
        '  port: 70000',
      ].join('\n'),
    );
    const issues = await problems({
      configPath,
      env: { CLEAVE_MAX_IN_FLIGHT: 'many', OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' },
      flags: [{ path: 'batching.maxQueueRequests', value: '-1', flag: '--max-queue-requests' }],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^prefix: must be 1-128 characters .* \(from .*bad\.yaml\)$/),
        expect.stringMatching(/^batching\.maxBatchSize: .*>0.* \(from .*bad\.yaml\)$/),
        expect.stringMatching(/^batching\.maxQueueDelay: unknown setting \(from .*bad\.yaml\)$/),
        expect.stringMatching(/^limits\.tailMemory: "lots" is not a size/),
        expect.stringMatching(/^http\.port: .*65535/),
        expect.stringMatching(
          /^limits\.maxInFlight: expected number, received string \(from env CLEAVE_MAX_IN_FLIGHT\)$/,
        ),
        expect.stringMatching(/^telemetry\.otlpEndpoint: .* \(from env OTEL_EXPORTER_OTLP_ENDPOINT\)$/),
        expect.stringMatching(/^batching\.maxQueueRequests: .* \(from flag --max-queue-requests\)$/),
      ]),
    );
    expect(issues).toHaveLength(8);
  });

  it('reports a missing replica, conflicting auth and a half client certificate', async () => {
    const issues = await problems({
      env: { CLEAVE_NATS_TOKEN: 't', CLEAVE_NATS_USER: 'u', CLEAVE_NATS_TLS_CERT: '/c.pem' },
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^replica: required; set it with --replica, or env CLEAVE_REPLICA, or `replica:` in the config file$/,
        ),
        expect.stringMatching(/^nats: choose one authentication method, not user\/pass and token/),
        expect.stringMatching(/^nats\.pass: user and pass go together/),
        expect.stringMatching(/^nats\.tls: certFile and keyFile go together/),
      ]),
    );
  });

  it('reports YAML syntax errors, unreadable files and a non-mapping document with the file name', async () => {
    const broken = await yamlFile('broken.yaml', 'batching: [1, 2\n');
    expect((await problems({ configPath: broken, defaults: { replica: 'r' } }))[0]).toMatch(/broken\.yaml: YAML /);
    const missing = join(dir, 'missing.yaml');
    expect(await problems({ configPath: missing, defaults: { replica: 'r' } })).toEqual([
      expect.stringMatching(/missing\.yaml: cannot read the config file/),
    ]);
    const list = await yamlFile('list.yaml', '- 1\n- 2\n');
    expect(await problems({ configPath: list, defaults: { replica: 'r' } })).toEqual([
      expect.stringMatching(/list\.yaml: the config file must hold a YAML mapping/),
    ]);
  });

  it('formats the error message as a numbered list of problems', async () => {
    const error = await resolveCloudConfig({ env: { CLEAVE_HTTP_PORT: 'x' } }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^invalid configuration \(2 problems\):\n {2}- /);
  });
});

describe('resolveCloudConfig: the shipped examples', () => {
  const deploy = (path: string) => fileURLToPath(new URL(`../../deploy/${path}`, import.meta.url));

  it('accepts deploy/cloud/cloud.yaml as written', async () => {
    const config = await resolveCloudConfig({ configPath: deploy('cloud/cloud.yaml') });
    expect(config.replica).toBe('cloud-a');
    expect(config.nats.servers).toHaveLength(3);
    expect(config.limits.tailMemory).toBe(512 * 1024 * 1024);
  });

  it('accepts the cloud.yaml that the Kubernetes ConfigMap is generated from', async () => {
    const config = await resolveCloudConfig({
      configPath: deploy('kubernetes/cloud.yaml'),
      env: { CLEAVE_REPLICA: 'pod-0' },
    });
    expect(config).toMatchObject({ replica: 'pod-0', http: { host: '0.0.0.0', port: 9464 } });
  });
});
