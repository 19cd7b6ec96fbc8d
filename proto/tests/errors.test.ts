import { describe, expect, it } from 'vitest';
import {
  isWireErrorCode,
  MAX_WIRE_ERROR_MESSAGE_LENGTH,
  toWireError,
  WIRE_ERROR_RETRYABLE,
  wireError,
  WireErrorCode,
} from '../src/error-codes.js';
import { isProtocolError, ProtocolError, ProtocolErrorCode } from '../src/protocol-error.js';

describe('ProtocolError', () => {
  it('carries name, code, message, cause and issues', () => {
    const cause = new Error('root');
    const error = new ProtocolError(ProtocolErrorCode.BadDims, 'tensor "x": bad', { cause, issues: ['a: b'] });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ProtocolError');
    expect(error.code).toBe('bad_dims');
    expect(error.message).toBe('tensor "x": bad');
    expect(error.cause).toBe(cause);
    expect(error.issues).toEqual(['a: b']);
    expect(new ProtocolError('malformed', 'm').issues).toEqual([]);
  });

  it('is recognised by isProtocolError, also as a look-alike from another package copy', () => {
    expect(isProtocolError(new ProtocolError('bad_token', 'x'))).toBe(true);
    const lookAlike = Object.assign(new Error('x'), { name: 'ProtocolError', code: 'too_large' });
    expect(isProtocolError(lookAlike)).toBe(true);
    expect(isProtocolError(Object.assign(new Error('x'), { name: 'ProtocolError', code: 'nope' }))).toBe(false);
    expect(isProtocolError(new TypeError('x'))).toBe(false);
    expect(isProtocolError({ name: 'ProtocolError', code: 'malformed' })).toBe(false);
  });
});

describe('wire error codes', () => {
  it('marks overloaded, deadline_exceeded, unavailable and internal retryable, the rest not', () => {
    expect(WIRE_ERROR_RETRYABLE).toEqual({
      bad_request: false,
      unknown_model: false,
      version_mismatch: false,
      overloaded: true,
      deadline_exceeded: true,
      unavailable: true,
      internal: true,
      reply_too_large: false,
      too_large: false,
    });
    expect(Object.keys(WIRE_ERROR_RETRYABLE).sort()).toEqual(Object.values(WireErrorCode).sort());
  });

  it('builds wire errors whose retryable follows the code', () => {
    expect(wireError('overloaded', 'queue full')).toEqual({
      code: 'overloaded',
      message: 'queue full',
      retryable: true,
    });
    expect(wireError('version_mismatch', 'no tail v2')).toEqual({
      code: 'version_mismatch',
      message: 'no tail v2',
      retryable: false,
    });
  });

  it('cuts long messages so an error reply stays small', () => {
    const { message } = wireError('internal', 'x'.repeat(5000));
    expect(message).toHaveLength(MAX_WIRE_ERROR_MESSAGE_LENGTH);
    expect(message.endsWith('…')).toBe(true);
  });

  it('recognises wire error codes', () => {
    expect(isWireErrorCode('deadline_exceeded')).toBe(true);
    expect(isWireErrorCode('timeout')).toBe(false);
    expect(isWireErrorCode(3)).toBe(false);
  });

  it('maps thrown errors to wire errors', () => {
    expect(toWireError(new ProtocolError('bad_dims', 'tensor "x": dims'))).toEqual({
      code: 'bad_request',
      message: 'tensor "x": dims',
      retryable: false,
    });
    expect(toWireError(new ProtocolError('unsupported_version', 'v2')).code).toBe('version_mismatch');
    expect(toWireError(new ProtocolError('too_large', 'tensor "x": 2e9 elements')).code).toBe('too_large');
    expect(toWireError(new Error('onnx crashed'))).toEqual({
      code: 'internal',
      message: 'onnx crashed',
      retryable: true,
    });
    expect(toWireError('weird').message).toBe('weird');
  });
});

describe('wire error codes: bad call', () => {
  it('rejects an unknown code with a TypeError naming the argument', () => {
    expect(() => wireError('nope' as WireErrorCode, 'x')).toThrow(
      new TypeError('"code" must be a wire error code, got "nope"'),
    );
  });
});
