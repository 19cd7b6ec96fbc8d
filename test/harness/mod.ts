/** The Cleave test harness: real servers and real models for integration suites. */
export { useTestNats, type TestNats } from './nats-harness.js';
export {
  otherPublisher,
  rewriteManifest,
  testBundleTrust,
  testPublisher,
  testTrustEnv,
  type TestPublisher,
} from './bundle-signing.js';
export { ensureFamilyModel, ensureZooModel } from './zoo-models.js';
export { runCleave, startCleave, type CliResult } from './run-cli.js';
export { measureExitPolicy } from './exit-evaluation.js';
export { startLinkEmulator, type LinkEmulator, type LinkShape } from './link-emulator.js';
export {
  buildExampleBundle,
  exampleImages,
  inferRequest,
  maxAbsDiff,
  replyLogits,
  requestTail,
  runHead,
  runTailLocally,
  startTestReplica,
  testServiceSettings,
  writeVariantModel,
  type TestBundle,
} from './cloud-fixtures.js';
export { packMsgpack, type MsgpackValue } from './msgpack-writer.js';
export { startCloudProcess, type CloudProcess } from './cloud-process.js';
export {
  createRetryingTailClient,
  type RetryingTailClient,
  type RetriedResult,
  type RetryReason,
} from './retrying-tail-client.js';
export { launchChromium, watchCsp } from './browser.js';
export { startConsoleProcess, type ConsoleProcess } from './console-process.js';
export { startEdgeProcess, type EdgeProcess, type EdgeProcessOptions } from './edge-process.js';
export { buildThrottledBundle, type ThrottledBundleOptions } from './throttled-bundle.js';
export {
  argmax,
  buildEdgeBundle,
  fashionSamples,
  fullModelLogits,
  splitWithAllExits,
  splitWithoutExits,
  startTestAgent,
  waitFor,
  writeExitsVariantModel,
  type EdgeBundle,
  type EdgeBundleOptions,
  type LogLine,
  type TestAgent,
} from './edge-fixtures.js';
export {
  DEPLOY_NATS_DIR,
  deployUserSettings,
  devPassword,
  loggedViolations,
  readDeployStreams,
  readDevCredentials,
  startDeployNats,
  waitForMetaLeader,
  type DeployNats,
  type DeployNatsNode,
  type LoggedViolation,
  type StartDeployNatsOptions,
} from './nats-cluster.js';
export {
  fullModelOutputs,
  partitionForServing,
  relativeDifference,
  relativeTensorError,
  serveAndCompare,
  servingInputs,
  type ServingBundleOptions,
  type ServingTensor,
} from './model-serving.js';
export { PRETRAINED_MODELS, pretrainedModelPath, type PretrainedModel } from './pretrained-models.js';
export { encodeJpeg, encodeNpy, encodePng } from './data-files.js';
export { measureSnooping, refusedSubscriptions, type SnoopingFigures, type SnoopingParties } from './snooping-probe.js';
