import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as proto from '../src/mod.js';

const SRC = join(import.meta.dirname, '..', 'src');

describe('public barrel', () => {
  it('keeps PROTOCOL_VERSION and exposes the contract', () => {
    expect(proto.PROTOCOL_VERSION).toBe(1);
    for (const name of [
      'encodeMessage',
      'decodeMessage',
      'encodeTensor',
      'decodeTensor',
      'validateEncodedTensor',
      'tensorWireBytes',
      'tailSubject',
      'parseTailSubject',
      'parseTraceparent',
      'wireError',
      'parseBundleManifest',
      'ProtocolError',
    ] as const) {
      expect(typeof proto[name], name).toBe('function');
    }
  });

  it('round-trips a request through the barrel alone', () => {
    const tensor = proto.encodeTensor('x', Float32Array.of(1, 2), [1, 2], 'f16');
    const bytes = proto.encodeMessage({
      kind: 'infer',
      v: proto.PROTOCOL_VERSION,
      id: 'a',
      model: 'm',
      version: 'v1',
      split: 's',
      tensors: [tensor],
      sentAt: 0,
    });
    const message = proto.decodeMessageOfKind(bytes, ['infer']);
    expect(Array.from(proto.decodeTensor(message.tensors[0] ?? tensor).data)).toEqual([1, 2]);
  });
});

describe('isomorphic sources', () => {
  it('use no node: imports, Buffer, process or NATS client', async () => {
    const files = (await readdir(SRC)).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    const offences: string[] = [];
    for (const file of files) {
      // Comments may name what the code avoids; only code counts.
      const text = (await readFile(join(SRC, file), 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const [what, pattern] of [
        ['node: import', /from ['"]node:/],
        ['Buffer', /\bBuffer\b/],
        ['process', /\bprocess\./],
        ['NATS client', /from ['"](@nats-io|nats)/],
      ] as const) {
        if (pattern.test(text)) offences.push(`${file}: ${what}`);
      }
    }
    expect(offences).toEqual([]);
  });
});
