// `cleave infer` against a real agent (served from a real NATS store): a PNG decoded and preprocessed like a
// calibration image, a .npy array and a JSON body each get the same top class as the agent gives the same tensor
// through its client, `--json` prints the whole reply, and mistakes (no --input, no agent there, a file type it
// cannot read) are one-line errors naming the flag or the file.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  encodeNpy,
  encodePng,
  type EdgeBundle,
  fashionSamples,
  runCleave,
  startTestAgent,
  type TestAgent,
  useTestNats,
} from '../harness/mod.js';

const nats = useTestNats();
let bundle: EdgeBundle;
let admin: NatsConnection;
let edge: TestAgent;
let work: string;
let pixels: Uint8Array;
let agentTop: number;
let finalOutput: string;

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** The first class of the first `top-k:` line `cleave infer` printed. */
function printedTop(stdout: string): number {
  const match = /top-\d+: (\d+) /.exec(stdout);
  if (!match) throw new Error(`no top-k line in:\n${stdout}`);
  return Number(match[1]);
}

beforeAll(async () => {
  const { url, prefix } = nats();
  work = await mkdtemp(join(tmpdir(), 'cli-infer-'));
  bundle = await buildEdgeBundle(join(work, 'bundle'), { calibrate: false, runs: 2 });
  admin = await connect({ servers: url });
  await publishBundle(admin, bundle.dir, { prefix });
  edge = await startTestAgent({ natsUrl: url, prefix, config: { models: [{ id: 'fmnist' }] } });
  await edge.agent.whenServing('fmnist', bundle.version);
  const { images } = await fashionSamples(1, 7);
  // What a PNG can hold: 8-bit pixels. The agent's own answer is for those pixels scaled to [0, 1].
  pixels = Uint8Array.from(images[0]!, (v) => Math.round(v * 255));
  await writeFile(join(work, 'sample.png'), encodePng(pixels, 28, 28, 1));
  const unit = Float32Array.from(pixels, (v) => v / 255);
  await writeFile(join(work, 'sample.npy'), encodeNpy('<f4', [1, 1, 28, 28], unit));
  await writeFile(
    join(work, 'body.json'),
    JSON.stringify({ inputs: { input: { dims: [1, 1, 28, 28], data: Array.from(unit) } } }),
  );
  const answer = await new EdgeClient({ url: edge.agent.httpUrl! }).infer('fmnist', {
    input: { dims: [1, 1, 28, 28], data: unit },
  });
  // The example model's one final output (its exits are not returned).
  finalOutput = Object.keys(answer.outputs)[0]!;
  agentTop = argmax(answer.outputs[finalOutput]!.data as Float32Array);
}, 180_000);

afterAll(async () => {
  await edge?.close();
  await admin?.close();
});

describe('cleave infer', () => {
  it('prints the top classes of a PNG, a .npy and a JSON body, agreeing with the agent', async () => {
    const agent = ['--agent', edge.agent.httpUrl!, '--model', 'fmnist'];
    const png = await runCleave(['infer', join(work, 'sample.png'), ...agent, '--input', 'input', '--top', '3']);
    expect(png.code, png.stderr).toBe(0);
    expect(png.stdout).toMatch(/^fmnist \S+ split \S+: ran on (edge|cloud|fallback)/);
    expect(png.stdout).toContain(`${finalOutput} float32 [1, 10]`);
    expect(png.stdout).toMatch(/top-3: \d+ \d+\.\d%, \d+ \d+\.\d%, \d+ \d+\.\d%/);
    const npy = await runCleave(['infer', join(work, 'sample.npy'), ...agent, '--input', 'input']);
    expect(npy.code, npy.stderr).toBe(0);
    const body = await runCleave(['infer', join(work, 'body.json'), ...agent]);
    expect(body.code, body.stderr).toBe(0);
    const tops = [printedTop(png.stdout), printedTop(npy.stdout), printedTop(body.stdout)];
    expect(tops).toEqual([agentTop, agentTop, agentTop]);
    console.log(`cleave infer: png/npy/json top class ${tops.join('/')} = agent's ${agentTop}`);
  });

  it('--json prints the whole reply with the outputs as arrays', async () => {
    const res = await runCleave([
      'infer',
      join(work, 'body.json'),
      '--agent',
      edge.agent.httpUrl!,
      '--model',
      'fmnist',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(0);
    const reply = JSON.parse(res.stdout) as {
      model: string;
      outputs: Record<string, { dims: number[]; data: number[] }>;
    };
    expect(reply.model).toBe('fmnist');
    expect(reply.outputs[finalOutput]?.dims).toEqual([1, 10]);
    expect(argmax(reply.outputs[finalOutput]!.data)).toBe(agentTop);
  });

  it('names the flag or the file when the request cannot be made', async () => {
    const noInput = await runCleave([
      'infer',
      join(work, 'sample.png'),
      '--agent',
      edge.agent.httpUrl!,
      '--model',
      'fmnist',
    ]);
    expect(noInput.code).toBe(1);
    expect(noInput.stderr.trim().split('\n')).toHaveLength(1);
    expect(noInput.stderr).toMatch(/sample\.png: --input <name> is required/);
    const wrongName = await runCleave([
      'infer',
      join(work, 'sample.png'),
      '--agent',
      edge.agent.httpUrl!,
      '--model',
      'fmnist',
      '--input',
      'pixels',
    ]);
    expect(wrongName.code).toBe(1);
    expect(wrongName.stderr).toMatch(/the model's inputs are \[input\]/);
    const noAgent = await runCleave([
      'infer',
      join(work, 'body.json'),
      '--agent',
      'http://127.0.0.1:1',
      '--model',
      'fmnist',
    ]);
    expect(noAgent.code).toBe(1);
    expect(noAgent.stderr).toMatch(/cannot reach the agent at http:\/\/127\.0\.0\.1:1: .*--agent/);
    const text = join(work, 'notes.txt');
    await writeFile(text, 'hello');
    const badFile = await runCleave(['infer', text, '--model', 'fmnist']);
    expect(badFile.code).toBe(1);
    expect(badFile.stderr).toMatch(/notes\.txt: give a PNG or JPEG image, a \.npy array or a \.json file/);
  });
});
