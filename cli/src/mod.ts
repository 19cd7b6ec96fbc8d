/**
 * Public entry of @cleave/cli for other packages (the test harness, benches): the embedded
 * nats-server, the example model's paths, CPU quotas and link emulation. The `cleave` binary is `main.ts`.
 */
export {
  NatsServerError,
  NatsServerErrorCode,
  resolveNatsServerBinary,
  startEmbeddedNats,
  type EmbeddedNats,
  type EmbeddedNatsOptions,
} from './embedded-nats.js';
export { EXAMPLE_MODEL_BACKBONE, EXAMPLE_MODEL_WITH_EXITS, REPO_ROOT } from './example-paths.js';
export { createCpuQuotaGroup, type CpuQuotaGroup } from './cpu-quota.js';
export { startLinkEmulator, type LinkEmulator, type LinkEmulatorOptions } from './link/userspace-link.js';
export { type KernelLinkOptions } from './link/kernel-link.js';
export { createEmulatedLink, type EmulatedLinkOptions, type ResolvedLinkMode } from './link/emulated-link.js';
export { type EmulatedLink, type LinkKind, type LinkShape } from './link/link-types.js';
export { kernelLinkUnavailableReason } from './link/netns.js';
