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
export {
  EXAMPLE_MODEL_BACKBONE,
  EXAMPLE_MODEL_WITH_EXITS,
  HEAVY_EXAMPLE_BACKBONE,
  HEAVY_EXAMPLE_WITH_EXITS,
  REPO_ROOT,
} from './example-paths.js';
export { createCpuQuotaGroup, type CpuQuotaGroup } from './cpu-quota.js';
export { startLinkEmulator, type LinkEmulator, type LinkEmulatorOptions } from './link/userspace-link.js';
export { type KernelLinkOptions } from './link/kernel-link.js';
export {
  createEmulatedLink,
  resolveLinkMode,
  type EmulatedLinkOptions,
  type ResolvedLinkMode,
} from './link/emulated-link.js';
export { type EmulatedLink, type LinkKind, type LinkShape, type LinkTraffic } from './link/link-types.js';
export { startDemoAgent, type DemoAgent, type StartDemoAgentOptions } from './demo/demo-agents.js';
export { type DemoAgentSpec } from './demo/demo-agents-spec.js';
export { kernelLinkUnavailableReason } from './link/netns.js';
export {
  CALIBRATION_MODEL,
  DEVICE_CLASSES,
  DEVICE_CLASS_NAMES,
  deviceClass,
  type DeviceClass,
  type DeviceClassName,
  type PublishedLatency,
} from './device-classes.js';
export { profileInQuota } from './profile-in-quota.js';
