import { describe, expect, it } from 'vitest';
import { CodedError } from '@cleave/proto';
import { NetnsCommandError, sh } from '../src/link/netns.js';

describe('namespace commands', () => {
  it('fail with a NetnsCommandError that names the command and carries its code and cause', async () => {
    const error: unknown = await sh('cleave-no-such-command', ['netns', 'list']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetnsCommandError);
    expect(error).toBeInstanceOf(CodedError);
    expect(error).toMatchObject({ name: 'NetnsCommandError', code: 'command_failed' });
    expect((error as Error).message).toMatch(/^cleave-no-such-command netns list: /);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });
});
