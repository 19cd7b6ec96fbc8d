// The console checks a version as every loader does: a manifest signed by a trusted publisher is verified; one
// signed by another key is flagged untrusted; an unsigned one, one changed after signing, and one whose version no
// longer derives from its content are reported as what every agent and replica will refuse.
import { describe, expect, it } from 'vitest';
import { createPublisherKey, type ManifestWithBytes, sha256Hex, signManifest } from '@cleave/node-runtime';
import { contentVersion, parseBundleManifest } from '@cleave/proto';
import { versionIntegrity } from '../src/version-integrity.js';

const SHA = 'b'.repeat(64);
const publisher = createPublisherKey();
const other = createPublisherKey();
const trusted = [{ publicKey: publisher.publicKey, name: 'release-ci' }];

/** A minimal manifest as JSON data, versioned from its content. */
function manifestJson(): Record<string, unknown> {
  const json: Record<string, unknown> = {
    format: 'cleave.bundle/v1',
    createdAt: '2026-01-01T00:00:00.000Z',
    model: {
      id: 'm',
      file: 'model.onnx',
      sha256: SHA,
      inputs: [{ name: 'input', dtype: 'float32', shape: ['N', 4] }],
      outputs: [{ name: 'logits', dtype: 'float32', shape: ['N', 2] }],
    },
    files: { 'model.onnx': { sha256: SHA, bytes: 1 } },
    candidates: [
      {
        id: 'edge-only',
        kind: 'edge-only',
        cut: [],
        cutTensors: [],
        head: 'model.onnx',
        tail: null,
        bytesPerSample: { f32: 0, f16: 0, int8: 0 },
        profile: { edge: { medianMs: 1, p90Ms: 1, runs: 1, batch: 1 } },
      },
    ],
    plan: { rttMs: 5, maxPayloadBytes: 1 << 20, objectives: ['latency'], ranges: [] },
  };
  json['version'] = contentVersion(json, sha256Hex);
  return json;
}

function asStored(json: Record<string, unknown>): ManifestWithBytes {
  const bytes = new TextEncoder().encode(JSON.stringify(json));
  return { manifest: parseBundleManifest(json), bytes, sha256: sha256Hex(bytes) };
}

describe('versionIntegrity', () => {
  it('verifies a version signed by a trusted publisher, by name', () => {
    const result = versionIntegrity(asStored(signManifest(manifestJson(), publisher.seed)), trusted);
    expect(result).toEqual({
      status: 'verified',
      publicKey: publisher.publicKey,
      name: 'release-ci',
      detail: 'signed by release-ci (trusted, verified)',
    });
  });

  it('flags a valid signature by a key the console does not trust', () => {
    const result = versionIntegrity(asStored(signManifest(manifestJson(), other.seed)), trusted);
    expect(result.status).toBe('untrusted');
    expect(result.publicKey).toBe(other.publicKey);
  });

  it('reports an unsigned version as refused', () => {
    expect(versionIntegrity(asStored(manifestJson()), trusted).status).toBe('unsigned');
  });

  it('reports a manifest changed after signing (same version, swapped file hash) as a bad signature', () => {
    const signed = signManifest(manifestJson(), publisher.seed);
    const swapped = { ...signed, files: { 'model.onnx': { sha256: 'c'.repeat(64), bytes: 1 } } };
    const result = versionIntegrity(asStored(swapped), trusted);
    expect(result.status).toBe('bad_signature');
    expect(result.detail).toMatch(/does not match its content.*refuse it$/);
  });

  it('reports a version that its content does not derive, even when signed', () => {
    const json = { ...manifestJson(), version: 'v000000000000' };
    const result = versionIntegrity(asStored(signManifest(json, publisher.seed)), trusted);
    expect(result.status).toBe('content_mismatch');
  });
});
