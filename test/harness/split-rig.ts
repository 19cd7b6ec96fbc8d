// The smallest whole data path for protocol tests: the example bundle published, a cut tensor of its last split
// computed locally, a replica serving tails and an agent pinned to that split, all on one test NATS.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import {
  buildExampleBundle,
  exampleImages,
  runHead,
  startTestReplica,
  type TestBundle,
  testServiceSettings,
} from './cloud-fixtures.js';
import { startTestAgent, type TestAgent } from './edge-fixtures.js';

/** What {@link startSplitRig} started. */
export interface SplitRig {
  readonly nc: NatsConnection;
  readonly bundle: TestBundle;
  /** The last split of the example: its cut is what tail requests carry. */
  readonly split: string;
  readonly cut: Awaited<ReturnType<typeof runHead>>;
  readonly replica: Awaited<ReturnType<typeof startTestReplica>>;
  /** An in-process agent (`gw-test`) pinned to `split`, serving the bundle. */
  readonly agent: TestAgent;
  close(): Promise<void>;
}

/** Starts a {@link SplitRig}; `name` names the replica and the scratch directory. */
export async function startSplitRig(nats: { url: string; prefix: string }, name: string): Promise<SplitRig> {
  const nc = await connect({ servers: nats.url });
  const bundle = await buildExampleBundle(join(await mkdtemp(join(tmpdir(), `cleave-${name}-`)), 'bundle'));
  await publishBundle(nc, bundle.dir, { prefix: nats.prefix });
  const split = [...bundle.splits.keys()].at(-1)!;
  const cut = await runHead(bundle, split, exampleImages(1, 42), 1);
  const replica = await startTestReplica(nats.url, testServiceSettings(nats.prefix, name));
  const agent = await startTestAgent({
    natsUrl: nats.url,
    prefix: nats.prefix,
    config: { models: [{ id: 'fmnist', pin: split }] },
  });
  await agent.agent.whenServing('fmnist', bundle.version);
  return {
    nc,
    bundle,
    split,
    cut,
    replica,
    agent,
    async close() {
      await agent.close();
      await replica.close();
      await nc.close();
    },
  };
}
