/**
 * Public entry of @cleave/cli for other packages (the test harness, benches): the embedded
 * nats-server and the example model's paths. The `cleave` binary itself is `main.ts`.
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
