import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/protocol-error.js';
import { isSafeRelativePath } from '../src/relative-path.js';
import {
  agentInferSubject,
  assertToken,
  bucketNames,
  bundleAnnounceSubject,
  bundleAnnounceWildcard,
  bundleObjectName,
  heartbeatSubject,
  heartbeatWildcard,
  isValidToken,
  parseTailSubject,
  TAIL_QUEUE_GROUP,
  TAIL_SERVICE_NAME,
  tailSubject,
  tailWildcard,
} from '../src/subjects.js';

function thrown(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError');
}

describe('subjects: round trip', () => {
  it('builds the tail subject and parses it back', () => {
    const subject = tailSubject({ model: 'mobilenet_v2', version: '2024-05-01', split: 'cut-17' });
    expect(subject).toBe('cleave.tail.mobilenet_v2.2024-05-01.cut-17');
    expect(parseTailSubject(subject)).toEqual({ model: 'mobilenet_v2', version: '2024-05-01', split: 'cut-17' });
    const custom = tailSubject({ prefix: 'test42', model: 'm', version: 'v1', split: 's' });
    expect(custom).toBe('test42.tail.m.v1.s');
    expect(parseTailSubject(custom, 'test42')).toEqual({ model: 'm', version: 'v1', split: 's' });
  });

  it('names the other subjects, wildcards and buckets from the prefix', () => {
    expect(tailWildcard()).toBe('cleave.tail.>');
    expect(tailWildcard('t1')).toBe('t1.tail.>');
    expect(agentInferSubject('cleave', 'gw-01', 'fmnist')).toBe('cleave.agent.gw-01.infer.fmnist');
    expect(heartbeatSubject('cleave', 'gw-01')).toBe('cleave.heartbeat.gw-01');
    expect(heartbeatWildcard()).toBe('cleave.heartbeat.*');
    expect(bundleAnnounceSubject('cleave', 'fmnist')).toBe('cleave.bundle.fmnist');
    expect(bundleAnnounceWildcard('t1')).toBe('t1.bundle.*');
    expect(bucketNames()).toEqual({
      bundles: 'cleave_bundles',
      current: 'cleave_current',
      policies: 'cleave_policies',
      heartbeats: 'cleave_heartbeats',
    });
    for (const name of Object.values(bucketNames('t-1_x'))) expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(TAIL_SERVICE_NAME).toBe('cleave-tail');
    expect(TAIL_QUEUE_GROUP).toBe('cleave-tail');
  });

  it('names bundle objects by model, version and relative path', () => {
    expect(bundleObjectName('fmnist', 'v3', 'heads/cut-2.onnx')).toBe('fmnist/v3/heads/cut-2.onnx');
  });
});

describe('subjects: expected failure', () => {
  it.each([
    ['', 'must not be empty'],
    ['a.b', 'contains "."'],
    ['a*', 'contains "*"'],
    ['>', 'contains ">"'],
    ['a b', 'contains whitespace'],
    ['a\tb', 'contains whitespace'],
    ['x'.repeat(129), 'must be at most 128 characters'],
  ])('rejects the model token %j', (model, why) => {
    const error = thrown(() => tailSubject({ model, version: 'v1', split: 's' }));
    expect(error.name).toBe('ProtocolError');
    expect(error.code).toBe('bad_token');
    expect(error.message).toContain(
      `model token ${JSON.stringify(model.length > 80 ? `${model.slice(0, 80)}…` : model)} is invalid`,
    );
    expect(error.message).toContain(why);
  });

  it('names which token is bad', () => {
    expect(thrown(() => tailSubject({ model: 'm', version: 'v.1', split: 's' })).message).toBe(
      `version token "v.1" is invalid: contains "."; only A-Z a-z 0-9 _ - are allowed (no whitespace, '.', '*' or '>')`,
    );
    expect(thrown(() => heartbeatSubject('cleave', 'gw 1')).message).toMatch(/^agent id token "gw 1" is invalid/);
    expect(thrown(() => bucketNames('a.b')).message).toMatch(/^prefix token "a.b" is invalid/);
    expect(thrown(() => assertToken(42, 'split')).message).toBe('split token number is invalid: must be a string');
  });

  it('rejects subjects that are not tail subjects', () => {
    for (const subject of ['cleave.tail.m.v1', 'cleave.tail.m.v1.s.extra', 'other.tail.m.v1.s', 'cleave.head.m.v1.s']) {
      const error = thrown(() => parseTailSubject(subject));
      expect(error.code).toBe('bad_token');
      expect(error.message).toBe(
        `subject ${JSON.stringify(subject)} is not a tail subject: expected "cleave.tail.<model>.<version>.<split>"`,
      );
    }
    expect(thrown(() => parseTailSubject('cleave.tail.m.v1.s*')).message).toMatch(/^split token "s\*" is invalid/);
  });

  it('rejects unsafe bundle paths', () => {
    for (const path of ['../etc/passwd', '/abs.onnx', 'a//b', 'a/./b', 'a\\b', 'C:x', '', 'a/..']) {
      expect(isSafeRelativePath(path)).toBe(false);
      expect(thrown(() => bundleObjectName('m', 'v1', path)).code).toBe('bad_token');
    }
    expect(isValidToken('ok_1-2')).toBe(true);
  });
});
