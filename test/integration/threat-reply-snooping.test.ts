// Threat (issue 14): an attacker holding agent gw-wifi's credentials listens for other clients' replies. Against
// nats-server started from the committed deploy/nats/single-node.conf, every client connects through the programs'
// own options (connectNats), so each takes its inbox prefix `_INBOX.<user>`, the only inbox accounts.conf grants
// it. gw-wifi subscribes to everything it may while gw-4g sends tail requests answered by the cloud user and
// writes heartbeats the console reads. The control runs the same probe on an open server, where one subscriber
// to `>` sees every secret: the probe can tell.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '@cleave/node-runtime';
import {
  type DeployNats,
  deployUserSettings,
  measureSnooping,
  readDeployStreams,
  refusedSubscriptions,
  startDeployNats,
  useTestNats,
} from '../harness/mod.js';

const N = 200;
const connections: NatsConnection[] = [];
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
});

describe('against the committed accounts.conf', () => {
  let nats: DeployNats;
  const connectAs = async (user: string) => {
    const nc = await connectNats(deployUserSettings(nats, user), `threat-reply-snooping:${user}`);
    connections.push(nc);
    return nc;
  };

  beforeAll(async () => {
    nats = await startDeployNats({ configs: ['single-node.conf'] });
    const heartbeats = (await readDeployStreams()).get('KV_cleave_heartbeats')!;
    await (await jetstreamManager(await connectAs('console'))).streams.add({ ...heartbeats, num_replicas: 1 });
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it(`gw-wifi snoops 0 of ${N} of gw-4g's tail replies and 0 of ${N} heartbeats`, async () => {
    const figures = await measureSnooping(
      {
        attacker: await connectAs('gw-wifi'),
        victim: await connectAs('gw-4g'),
        victimId: 'gw-4g',
        cloud: await connectAs('cloud'),
        console: await connectAs('console'),
      },
      // Everything accounts.conf lets gw-wifi subscribe to.
      ['_INBOX.gw-wifi.>', 'cleave.agent.gw-wifi.>', 'cleave.bundle.*'],
      N,
    );
    console.log(
      `reply snooping (accounts.conf): replies snooped: ${figures.repliesSnooped} of ${figures.replies}; ` +
        `heartbeats snooped: ${figures.heartbeatsSnooped} of ${figures.heartbeats} ` +
        `(console saw ${figures.heartbeatsAtConsole} KV and ${figures.liveHeartbeatsAtConsole} live); ` +
        `attacker messages: ${figures.attackerMessages}`,
    );
    expect(figures.replies).toBe(N);
    expect(figures.lastHeartbeatAtConsole).toBe(true);
    expect(figures.liveHeartbeatsAtConsole).toBe(N);
    expect(figures.repliesSnooped).toBe(0);
    expect(figures.heartbeatsSnooped).toBe(0);
    expect(figures.attackerMessages).toBe(0);
  });

  it('refuses gw-wifi every inbox but its own, the heartbeat subjects and a consumer on the heartbeats', async () => {
    const attacker = await connectAs('gw-wifi');
    const others = ['_INBOX.>', '_INBOX.gw-4g.>', '_INBOX.console.>', '_INBOX.cloud.>', 'cleave.heartbeat.*', '>'];
    const refused = await refusedSubscriptions(attacker, others);
    console.log(`reply snooping (accounts.conf): subscriptions refused: ${refused.length} of ${others.length}`);
    expect(refused).toEqual(others);
    // Reading the heartbeats through JetStream instead: no consumer, no watch.
    const watch = new Kvm(attacker).open('cleave_heartbeats').then((kv) => kv.watch({ key: 'gw-4g' }));
    await expect(watch).rejects.toThrow(/Permissions Violation.*CONSUMER\.CREATE\.KV_cleave_heartbeats/);
  });
});

describe('control: the same probe on an open server (one account, no permissions)', () => {
  const open = useTestNats();
  it('sees every reply and heartbeat, so a 0 above is a real 0', async () => {
    const connect = async (name: string) => {
      const nc = await connectNats({ servers: [open().url], name }, name);
      connections.push(nc);
      return nc;
    };
    const operator = await connect('console');
    await new Kvm(operator).create('cleave_heartbeats', { history: 1 });
    const figures = await measureSnooping(
      {
        attacker: await connect('gw-wifi'),
        victim: await connect('gw-4g'),
        victimId: 'gw-4g',
        cloud: await connect('cloud'),
        console: operator,
      },
      ['>'],
      N,
    );
    console.log(
      `reply snooping (control, open server): replies snooped: ${figures.repliesSnooped} of ${figures.replies}; ` +
        `heartbeats snooped: ${figures.heartbeatsSnooped} messages carrying the ${figures.heartbeats} heartbeats`,
    );
    expect(figures.repliesSnooped).toBe(N);
    // Each heartbeat reaches `>` at least as the KV write, the live publish and the console's watch delivery.
    expect(figures.heartbeatsSnooped).toBeGreaterThanOrEqual(2 * N);
  });
});
