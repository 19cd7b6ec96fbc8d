// Threat: an agent appears as another agent in the console's fleet table. The console must key each row by the
// authenticated writer (the KV key, which NATS permissions tie to the agent's user), never by the id inside the
// heartbeat body, and flag a body that names someone else. Checked against a plain test server (any key can be
// written, as with a misconfigured agent) and against the committed deploy/nats configs, where agent gw-wifi may
// write only its own key and tries to pass itself off as gw-4g.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, PermissionViolationError } from '@nats-io/transport-node';
import { connectNats, openHeartbeatKv, resolveNatsSettings } from '@cleave/node-runtime';
import { createConsoleApp, createConsoleAuth, createConsoleData, type FleetAgent } from '@cleave/console';
import { encodeMessage, type Heartbeat, PROTOCOL_VERSION } from '@cleave/proto';
import { devPassword, readDeployStreams, startDeployNats, type DeployNats, useTestNats } from '../harness/mod.js';

const TOKEN = 'identity-test-token-0123456789';
const bearer = { authorization: `Bearer ${TOKEN}` };

/** A heartbeat whose body says `agentId`, with a bandwidth that tells the writers apart. */
function heartbeat(agentId: string, bandwidthMbps: number): Uint8Array {
  const hb: Heartbeat = {
    kind: 'heartbeat',
    v: PROTOCOL_VERSION,
    agentId,
    sentAt: Date.now(),
    intervalMs: 5000,
    models: [],
    bandwidthMbps,
  };
  return encodeMessage(hb);
}

/** The fleet as the console API (the page's only source) reports it. */
async function fleetThroughApi(nc: NatsConnection, prefix: string): Promise<FleetAgent[]> {
  const app = await createConsoleApp({
    data: createConsoleData(nc, { prefix }),
    auth: createConsoleAuth({ token: TOKEN }),
  });
  const res = await app.request('/api/fleet', { headers: bearer });
  expect(res.status).toBe(200);
  return ((await res.json()) as { agents: FleetAgent[] }).agents;
}

function summarize(agents: FleetAgent[], claimed: string): string {
  const spoofed = agents.filter((a) => a.spoofed);
  const shownAs = agents.filter((a) => a.agentId === claimed || a.heartbeat.agentId === claimed);
  return `heartbeats naming another agent flagged: ${spoofed.length}; rows shown as ${claimed}: ${shownAs.length}`;
}

describe('console fleet identity on a plain server (any writer, any key)', () => {
  const nats = useTestNats();
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: nats().url });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it('keys rows by the KV key: five writers naming gw-b are flagged under their own keys, gw-b is shown once', async () => {
    const { prefix } = nats();
    const kv = await openHeartbeatKv(nc, prefix);
    const impostors = ['gw-a', 'gw-s1', 'gw-s2', 'gw-s3', 'gw-s4'];
    // The impostors write before and after the genuine agent, so no "last writer wins" can hide the result.
    await kv.put('gw-a', heartbeat('gw-b', 1.5));
    await kv.put('gw-b', heartbeat('gw-b', 42));
    for (const [i, key] of impostors.slice(1).entries()) await kv.put(key, heartbeat('gw-b', 2 + i));

    const agents = await fleetThroughApi(nc, prefix);
    console.log(`plain server: ${summarize(agents, 'gw-b')} (of ${impostors.length} impostors and 1 genuine)`);
    expect(agents.map((a) => a.agentId)).toEqual(['gw-a', 'gw-b', 'gw-s1', 'gw-s2', 'gw-s3', 'gw-s4']);
    for (const key of impostors) {
      const row = agents.find((a) => a.agentId === key)!;
      expect(row, key).toMatchObject({ spoofed: true, claimedAgentId: 'gw-b' });
      // The body's claim is not passed on as the agent id: any reader of the API sees the writer.
      expect(row.heartbeat.agentId).toBe(key);
    }
    expect(agents.find((a) => a.agentId === 'gw-a')!.heartbeat.bandwidthMbps).toBe(1.5);
    const genuine = agents.filter((a) => a.agentId === 'gw-b' || a.heartbeat.agentId === 'gw-b');
    expect(genuine).toHaveLength(1);
    expect(genuine[0]).toMatchObject({ spoofed: false, heartbeat: { agentId: 'gw-b', bandwidthMbps: 42 } });
    expect(genuine[0]!.claimedAgentId).toBeUndefined();
  });
});

describe('console fleet identity against the committed deploy/nats configs', () => {
  let deploy: DeployNats;
  const connections: NatsConnection[] = [];
  /** Connects as a deploy user through the same settings path as the daemons (inbox prefix and all). */
  async function connectAs(user: string): Promise<NatsConnection> {
    const settings = resolveNatsSettings(
      {
        NATS_URL: deploy.urls.join(','),
        CLEAVE_NATS_USER: user,
        CLEAVE_NATS_PASS: devPassword(deploy.credentials, user),
      },
      [],
      `threat-console-identity:${user}`,
    );
    const nc = await connectNats(settings, `threat-console-identity:${user}`);
    connections.push(nc);
    return nc;
  }

  beforeAll(async () => {
    deploy = await startDeployNats({ configs: ['single-node.conf'] });
    const streams = await readDeployStreams();
    const jsm = await jetstreamManager(await connectAs('console'));
    for (const name of ['KV_cleave_policies', 'KV_cleave_heartbeats', 'KV_cleave_audit']) {
      await jsm.streams.add({ ...streams.get(name)!, num_replicas: 1 });
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await deploy?.stop();
  });

  it('gw-wifi cannot write under gw-4g; its own entry naming gw-4g is flagged as gw-wifi, gw-4g shown once', async () => {
    const wifi = await new Kvm(await connectAs('gw-wifi')).open('cleave_heartbeats');
    const fourG = await new Kvm(await connectAs('gw-4g')).open('cleave_heartbeats');
    await fourG.put('gw-4g', heartbeat('gw-4g', 7.5));
    // Writing under the other agent's key is refused by the server...
    const refused = await wifi.put('gw-4g', heartbeat('gw-4g', 999)).then(
      () => undefined,
      (e: unknown) => e,
    );
    let violation: unknown = refused;
    while (violation instanceof Error && !(violation instanceof PermissionViolationError)) violation = violation.cause;
    expect(violation, String(refused)).toBeInstanceOf(PermissionViolationError);
    // ...so the only way left is its own key with a lying body.
    await wifi.put('gw-wifi', heartbeat('gw-4g', 999));

    const agents = await fleetThroughApi(await connectAs('console'), 'cleave');
    console.log(
      `deploy configs: forged writes under gw-4g refused: 1 of 1; ${summarize(agents, 'gw-4g')}; ` +
        `gw-4g bandwidth shown: ${agents.find((a) => a.agentId === 'gw-4g')?.heartbeat.bandwidthMbps} Mbps (genuine 7.5)`,
    );
    expect(agents.map((a) => [a.agentId, a.spoofed, a.claimedAgentId ?? null])).toEqual([
      ['gw-4g', false, null],
      ['gw-wifi', true, 'gw-4g'],
    ]);
    expect(agents[0]!.heartbeat).toMatchObject({ agentId: 'gw-4g', bandwidthMbps: 7.5 });
    expect(agents[1]!.heartbeat).toMatchObject({ agentId: 'gw-wifi', bandwidthMbps: 999 });
  });
});
