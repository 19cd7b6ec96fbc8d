import { describe, expect, it } from 'vitest';
import { CodedError, ProtocolError, WireErrorCode } from '@cleave/proto';
import { ServeError, toServeWireError } from '../src/service/serve-error.js';
import { TailInputError } from '../src/tail/tensor-batch.js';

describe('serve errors', () => {
  it('are CodedErrors whose code is the wire code of the reply', () => {
    const serve = new ServeError(WireErrorCode.Unavailable, 'no tail');
    const input = new TailInputError('bad dims');
    for (const error of [serve, input]) expect(error).toBeInstanceOf(CodedError);
    expect(serve).toMatchObject({ name: 'ServeError', code: 'unavailable' });
    expect(input).toMatchObject({ name: 'TailInputError', code: 'bad_request' });
    expect(toServeWireError(serve)).toMatchObject({ code: 'unavailable', message: 'no tail' });
    expect(toServeWireError(input)).toMatchObject({ code: 'bad_request', message: 'bad dims' });
  });

  it('maps a protocol error by its code and anything else to internal', () => {
    expect(toServeWireError(new ProtocolError('bad_dims', 'x')).code).toBe('bad_request');
    expect(toServeWireError(new Error('boom'))).toMatchObject({ code: 'internal', message: 'internal error: boom' });
  });
});
