import { describe, expect, it } from 'vitest';
import { CodedError, codedErrorGuard } from '../src/coded-error.js';

const TestCode = { Broken: 'broken', Missing: 'missing' } as const;
type TestCode = (typeof TestCode)[keyof typeof TestCode];

class TestError extends CodedError<TestCode> {
  override readonly name = 'TestError';
}
class NarrowerTestError extends TestError {}
class OtherError extends CodedError<'other'> {
  override readonly name = 'OtherError';
}

describe('CodedError', () => {
  it('carries code, message and cause, and subclasses keep their name', () => {
    const cause = new Error('root');
    const error = new TestError(TestCode.Broken, 'it broke', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(CodedError);
    expect(error).toMatchObject({ name: 'TestError', code: 'broken', message: 'it broke', cause });
  });
});

describe('codedErrorGuard', () => {
  const isTestError = codedErrorGuard(TestError);

  it('is true for instances of the class and its subclasses, false for anything else', () => {
    expect(isTestError(new TestError(TestCode.Broken, 'x'))).toBe(true);
    expect(isTestError(new NarrowerTestError(TestCode.Missing, 'x'))).toBe(true);
    expect(isTestError(new OtherError('other', 'x'))).toBe(false);
    expect(isTestError(new Error('x'))).toBe(false);
    expect(isTestError({ name: 'TestError', code: 'broken' })).toBe(false);
    expect(isTestError(undefined)).toBe(false);
  });

  it('narrows to one code when given one', () => {
    const error: unknown = new TestError(TestCode.Missing, 'x');
    expect(isTestError(error, TestCode.Missing)).toBe(true);
    expect(isTestError(error, TestCode.Broken)).toBe(false);
    if (isTestError(error)) expect(error.code satisfies TestCode).toBe('missing');
  });

  it('accepts a look-alike of another package copy only when asked: same name, a known code', () => {
    const lookAlike = Object.assign(new Error('x'), { name: 'TestError', code: 'broken' });
    expect(isTestError(lookAlike)).toBe(false);
    const acrossCopies = codedErrorGuard(TestError, { name: 'TestError', codes: TestCode });
    expect(acrossCopies(lookAlike)).toBe(true);
    expect(acrossCopies(lookAlike, TestCode.Missing)).toBe(false);
    expect(acrossCopies(Object.assign(new Error('x'), { name: 'TestError', code: 'nope' }))).toBe(false);
    expect(acrossCopies(Object.assign(new Error('x'), { name: 'OtherError', code: 'broken' }))).toBe(false);
    expect(acrossCopies({ name: 'TestError', code: 'broken' })).toBe(false);
  });
});
