// The userspace link emulator lives in @cleave/cli (the demo uses it too); this keeps the harness's import path.
export { startLinkEmulator, type LinkEmulator, type LinkShape } from '@cleave/cli';
