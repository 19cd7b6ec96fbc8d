/** The Cleave test harness: real servers and real models for integration suites. */
export { useTestNats, type TestNats } from './nats-harness.js';
export { ensureZooModel, ZOO_CACHE_DIR } from './zoo-models.js';
export { CLEAVE_BIN, runCleave, startCleave, type CliResult } from './run-cli.js';
export { measureExitPolicy } from './exit-evaluation.js';
export { startLinkEmulator, type LinkEmulator, type LinkShape } from './link-emulator.js';
export { startCloudProcess, type CloudProcess } from './cloud-process.js';
