// The service answers the NATS micro-service discovery protocol. Proven with the raw NATS text protocol over a TCP
// socket (CONNECT, SUB, PUB, MSG), so nothing from nats.js or our client code is involved on the asking side.
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReplica, testServiceSettings, useTestNats } from '../harness/mod.js';

const nats = useTestNats();
let replica: Awaited<ReturnType<typeof startTestReplica>>;

beforeAll(async () => {
  replica = await startTestReplica(nats().url, testServiceSettings(nats().prefix, 'raw-probe'));
});
afterAll(async () => {
  await replica?.close();
});

/** A minimal NATS protocol client: enough to subscribe to an inbox and publish one request. */
class RawNatsClient {
  private buffer = Buffer.alloc(0);
  private readonly payloads: string[] = [];
  private waiters: (() => void)[] = [];
  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
  }

  static async open(url: string): Promise<RawNatsClient> {
    const { hostname, port } = new URL(url);
    const socket = tcpConnect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawNatsClient(socket);
    await client.until(() => client.serverInfo !== undefined);
    client.send('CONNECT {"verbose":false,"pedantic":false,"protocol":1,"lang":"raw","version":"0"}');
    return client;
  }

  serverInfo: Record<string, unknown> | undefined;
  pongs = 0;

  send(line: string, payload?: string): void {
    this.socket.write(payload === undefined ? `${line}\r\n` : `${line}\r\n${payload}\r\n`);
  }

  /** Subscribes an inbox, publishes to `subject` with that inbox as reply, and gathers replies for `waitMs`. */
  async request(subject: string, sid: number, waitMs: number): Promise<unknown[]> {
    const inbox = `_INBOX.raw.${sid}`;
    const before = this.payloads.length;
    this.send(`SUB ${inbox} ${sid}`);
    this.send(`PUB ${subject} ${inbox} 0`, '');
    this.send('PING');
    await this.until(() => this.payloads.length > before);
    await new Promise((resolve) => setTimeout(resolve, waitMs)); // other replicas would answer within this window
    this.send(`UNSUB ${sid}`);
    return this.payloads.slice(before).map((p) => JSON.parse(p) as unknown);
  }

  close(): void {
    this.socket.end();
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end < 0) return;
      const line = this.buffer.subarray(0, end).toString();
      if (line.startsWith('MSG ')) {
        const size = Number(line.split(' ').at(-1));
        if (this.buffer.length < end + 2 + size + 2) return; // payload not complete yet
        this.payloads.push(this.buffer.subarray(end + 2, end + 2 + size).toString());
        this.buffer = this.buffer.subarray(end + 2 + size + 2);
      } else {
        this.buffer = this.buffer.subarray(end + 2);
        if (line.startsWith('INFO ')) this.serverInfo = JSON.parse(line.slice(5)) as Record<string, unknown>;
        else if (line === 'PING') this.send('PONG');
        else if (line === 'PONG') this.pongs += 1;
        else if (line.startsWith('-ERR')) throw new Error(`server error: ${line}`);
      }
      for (const wake of this.waiters.splice(0)) wake();
    }
  }

  private async until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('raw NATS client: timed out waiting for the server');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

describe('$SRV discovery over the raw NATS protocol', () => {
  it('answers $SRV.INFO with the service, its endpoint on the tail wildcard and its queue group', async () => {
    const client = await RawNatsClient.open(nats().url);
    try {
      const infos = (await client.request('$SRV.INFO.cleave-tail', 1, 300)) as Record<string, unknown>[];
      const ours = infos.filter((i) => (i['metadata'] as Record<string, string>)['replica'] === 'raw-probe');
      expect(ours).toHaveLength(1);
      expect(ours[0]).toMatchObject({
        type: 'io.nats.micro.v1.info_response',
        name: 'cleave-tail',
        id: replica.service.id,
        version: '0.1.0',
        metadata: { replica: 'raw-probe', prefix: nats().prefix },
        endpoints: [{ name: 'tail', subject: `${nats().prefix}.tail.>`, queue_group: 'cleave-tail' }],
      });
    } finally {
      client.close();
    }
  });

  it('answers $SRV.PING and $SRV.STATS (with the replica counters) by id', async () => {
    const client = await RawNatsClient.open(nats().url);
    try {
      const [ping] = (await client.request(`$SRV.PING.cleave-tail.${replica.service.id}`, 2, 100)) as Record<
        string,
        unknown
      >[];
      expect(ping).toMatchObject({
        type: 'io.nats.micro.v1.ping_response',
        name: 'cleave-tail',
        id: replica.service.id,
      });
      const [stats] = (await client.request(`$SRV.STATS.cleave-tail.${replica.service.id}`, 3, 100)) as Record<
        string,
        unknown
      >[];
      expect(stats).toMatchObject({ type: 'io.nats.micro.v1.stats_response', name: 'cleave-tail' });
      const [endpoint] = stats!['endpoints'] as Record<string, unknown>[];
      expect(endpoint).toMatchObject({ name: 'tail', queue_group: 'cleave-tail', data: { inFlight: 0, served: 0 } });
    } finally {
      client.close();
    }
  });
});
