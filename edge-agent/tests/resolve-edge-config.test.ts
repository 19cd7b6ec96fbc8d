import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODECS } from '@cleave/proto';
import { EdgeConfigError, resolveEdgeConfig } from '../src/config/resolve-edge-config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edge-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function problems(sources: Parameters<typeof resolveEdgeConfig>[0]): Promise<readonly string[]> {
  try {
    await resolveEdgeConfig(sources);
  } catch (error) {
    if (error instanceof EdgeConfigError) return error.issues;
    throw error;
  }
  throw new Error('expected an EdgeConfigError');
}

describe('edge config: sources and defaults', () => {
  it('fills defaults, binds HTTP to localhost, and freezes the result', async () => {
    const path = await file('ok.yaml', 'agentId: gw-01\nmodels:\n  - id: fmnist\n');
    const config = await resolveEdgeConfig({ configPath: path });
    expect(config).toMatchObject({
      agentId: 'gw-01',
      prefix: 'cleave',
      http: { host: '127.0.0.1', port: 8470, enabled: true },
      models: [{ id: 'fmnist', objective: 'auto' }],
      battery: { path: '/sys/class/power_supply' },
      policy: { deadlineMs: 500, codecs: [...CODECS] }, // every codec the agent can encode
      maxBodyBytes: 16 * 1024 * 1024,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.models[0])).toBe(true);
  });

  it('env overrides the file and flags override env; models come from a list with optional pins', async () => {
    const path = await file('layers.yaml', 'agentId: from-file\nmodels: [{ id: a }]\nhttp: { port: 1000 }\n');
    const config = await resolveEdgeConfig({
      configPath: path,
      env: { CLEAVE_AGENT_ID: 'from-env', CLEAVE_EDGE_HTTP_PORT: '2000', NATS_URL: 'nats://a:1, nats://b:2' },
      flags: [
        { path: 'http.port', value: '3000', flag: '--http-port' },
        { path: 'models', value: 'fmnist:split-18,other', flag: '--model' },
      ],
    });
    expect(config.agentId).toBe('from-env');
    expect(config.http.port).toBe(3000);
    expect(config.nats.servers).toEqual(['nats://a:1', 'nats://b:2']);
    expect(config.models.map((m) => [m.id, m.pin])).toEqual([
      ['fmnist', 'split-18'],
      ['other', undefined],
    ]);
  });
});

describe('edge config: every problem at once, each with its source', () => {
  it('lists schema and cross-field problems from every source in one error', async () => {
    const path = await file(
      'bad.yaml',
      [
        'agentId: "gw 01"',
        'models: [{ id: fmnist }, { id: fmnist, objective: fastest }]',
        'nats: { token: t, user: u }',
        'battery: { balancedBelow: 0.1, energyBelow: 0.3 }',
        'maxBodyBytes: lots',
        'htpp: { port: 1 }',
      ].join('\n'),
    );
    const issues = await problems({ configPath: path, env: { CLEAVE_EDGE_HTTP_PORT: 'eighty' } });
    const text = issues.join('\n');
    expect(text).toMatch(/agentId: must be 1-128 characters .* \(from .*bad\.yaml\)/);
    expect(text).toMatch(/models\.1\.objective: .*\(from .*bad\.yaml\)/);
    expect(text).toMatch(/models\.1\.id: model "fmnist" is listed twice/);
    expect(text).toMatch(/nats: choose one authentication method, not user\/pass and token/);
    expect(text).toMatch(/nats\.pass: user and pass go together/);
    expect(text).toMatch(/battery\.energyBelow: must not exceed balancedBelow \(0\.1\)/);
    expect(text).toMatch(/maxBodyBytes: "lots" is not a size/);
    expect(text).toMatch(/htpp: unknown setting/);
    expect(text).toMatch(/http\.port: .* \(from env CLEAVE_EDGE_HTTP_PORT\)/);
    expect(issues.length).toBeGreaterThanOrEqual(9);
  });

  it('a missing file, bad YAML and a missing model list are reported, not thrown raw', async () => {
    expect((await problems({ configPath: join(dir, 'absent.yaml') }))[0]).toMatch(/cannot read the config file/);
    expect((await problems({ configPath: await file('broken.yaml', 'a: [1,\n') }))[0]).toMatch(/YAML/);
    expect(await problems({ values: { agentId: 'x' } })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^models: /)]),
    );
  });
});
