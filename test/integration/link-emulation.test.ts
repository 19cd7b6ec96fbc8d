// Both link kinds, tested alike with raw TCP from the agent's side of the link: shaping really limits
// throughput each way, delay adds to the round trip, a cut breaks open connections and refuses new ones, restore
// brings them back, and closing leaves nothing behind. The kernel kind needs root (CI runs as root).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmulatedLink, type EmulatedLink, kernelLinkUnavailableReason, type LinkKind } from '@cleave/cli';

const kernelUnavailable = await kernelLinkUnavailableReason();
if (kernelUnavailable !== undefined) {
  process.stderr.write(`link-emulation: kernel link tests skipped: ${kernelUnavailable} (CI runs them as root)\n`);
}

// A client on the agent's side of the link. `up`: send N bytes, wait for a one-byte ack. `down`: receive N bytes.
// `ping`: one byte there and back. `hold`: stay connected, print `closed` when the link breaks the connection.
const CLIENT = `
const net = require('node:net');
const [mode, host, port, n] = process.argv.slice(1);
const t0 = performance.now();
const s = net.connect({ host, port: Number(port), timeout: 1500 });
s.on('timeout', () => { console.log('timeout'); process.exit(3); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(2); });
s.on('connect', () => {
  s.setTimeout(0);
  console.log('connected');
  s.write(mode + ' ' + n + '\\n');
  if (mode === 'up') s.write(Buffer.alloc(Number(n)));
});
let got = 0;
s.on('data', (d) => {
  got += d.length;
  if ((mode === 'down' && got >= Number(n)) || ((mode === 'up' || mode === 'ping') && got >= 1)) {
    console.log('done ' + (performance.now() - t0).toFixed(1));
    process.exit(0);
  }
});
s.on('close', () => { console.log('closed'); process.exit(mode === 'hold' ? 0 : 4); });
`;

/** The far end: reads the command line, then acks uploads, serves downloads, echoes pings, or holds. */
async function startTarget(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let header = '';
    let mode = '';
    let want = 0;
    let got = 0;
    socket.on('data', (d: Buffer) => {
      if (mode === '') {
        header += d.toString('latin1');
        const nl = header.indexOf('\n');
        if (nl < 0) return;
        [mode = '', want] = header
          .slice(0, nl)
          .split(' ')
          .map((x, i) => (i === 0 ? x : Number(x))) as [string, number];
        got = header.length - nl - 1;
        if (mode === 'down') socket.write(Buffer.alloc(want));
        if (mode === 'ping') socket.write('p');
      } else got += d.length;
      if (mode === 'up' && got >= want) socket.write('k');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, sockets, port: typeof address === 'object' && address ? address.port : 0 };
}

/** Runs the client on the agent's side of `link`; resolves with its output lines and exit code. */
function runClient(
  link: EmulatedLink,
  mode: string,
  bytes = 0,
  onLine?: (line: string) => void,
): Promise<{ code: number | null; lines: string[] }> {
  const url = new URL(link.url);
  const { command, args } = link.wrap(process.execPath, ['-e', CLIENT, mode, url.hostname, url.port, String(bytes)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  child.stdout.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n').filter(Boolean)) {
      lines.push(line);
      onLine?.(line);
    }
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, lines })));
}

function elapsedMs(result: { lines: string[] }): number {
  const done = result.lines.find((l) => l.startsWith('done '));
  if (done === undefined) throw new Error(`client did not finish: ${result.lines.join(' | ')}`);
  return Number(done.slice(5));
}

const KINDS: { kind: LinkKind; skip: string | undefined }[] = [
  { kind: 'userspace', skip: undefined },
  { kind: 'kernel', skip: kernelUnavailable },
];

describe.each(KINDS)('$kind link', ({ kind, skip }) => {
  let target: Awaited<ReturnType<typeof startTarget>>;
  let link: EmulatedLink;
  beforeAll(async () => {
    if (skip !== undefined) return;
    target = await startTarget();
    link = await createEmulatedLink({ kind, target: { host: '127.0.0.1', port: target.port }, index: 7 });
  });
  afterAll(async () => {
    if (skip !== undefined) return;
    await link.close();
    await new Promise<void>((resolve) => target.server.close(() => resolve()));
  });

  it.skipIf(skip !== undefined)('limits throughput each way to the shaped rate', async () => {
    const unshaped = elapsedMs(await runClient(link, 'up', 200_000));
    expect(unshaped).toBeLessThan(1000);
    await link.shape({ rateMbps: 1 });
    // 200 kB is 1.6 Mbit: at 1 Mbit/s at least 1.6 s; 1.2 s leaves room for a token bucket's first burst.
    expect(elapsedMs(await runClient(link, 'up', 200_000))).toBeGreaterThanOrEqual(1200);
    expect(elapsedMs(await runClient(link, 'down', 200_000))).toBeGreaterThanOrEqual(1200);
    await link.shape({ rateMbps: Infinity });
    expect(elapsedMs(await runClient(link, 'down', 200_000))).toBeLessThan(1000);
  });

  it.skipIf(skip !== undefined)('adds delay to the round trip', async () => {
    await link.shape({ delayMs: 60 });
    // 60 ms each way, plus the TCP handshake which the proxy does not delay.
    expect(elapsedMs(await runClient(link, 'ping'))).toBeGreaterThanOrEqual(110);
    await link.shape({ delayMs: 0 });
    expect(link.current).toEqual({ rateMbps: Infinity, delayMs: 0 });
  });

  it.skipIf(skip !== undefined)('a cut breaks open connections and refuses new ones; restore reconnects', async () => {
    let connected!: () => void;
    const isConnected = new Promise<void>((resolve) => (connected = resolve));
    const holding = runClient(link, 'hold', 0, (line) => line === 'connected' && connected());
    await isConnected;
    await link.cut();
    expect(link.isCut).toBe(true);
    // The connection ends: a FIN or a reset, either way the agent learns it at once.
    const held = await holding;
    expect(held.lines.some((l) => l === 'closed' || l === 'error ECONNRESET')).toBe(true);
    const refused = await runClient(link, 'ping');
    expect(refused.code).not.toBe(0);
    await link.restore();
    expect(elapsedMs(await runClient(link, 'ping'))).toBeLessThan(1500);
  });
});

describe.skipIf(kernelUnavailable !== undefined)('kernel link cleanup', () => {
  it('runs the client inside the namespace and leaves no namespace or interface behind', async () => {
    const target = await startTarget();
    const link = await createEmulatedLink({
      kind: 'kernel',
      target: { host: '127.0.0.1', port: target.port },
      index: 8,
    });
    expect(link.netns).toMatch(new RegExp(`^cleave-${process.pid}-8$`));
    expect(execFileSync('ip', ['netns', 'list']).toString()).toContain(link.netns);
    const inside = execFileSync('ip', ['netns', 'identify', String(process.pid)])
      .toString()
      .trim();
    expect(inside).toBe('');
    const { command, args } = link.wrap('ip', ['-o', 'link', 'show']);
    expect(execFileSync(command, args).toString()).toContain('wan0');
    await link.close();
    await link.close();
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toContain(link.netns);
    expect(execFileSync('ip', ['-o', 'link', 'show']).toString()).not.toContain(`cw${process.pid}x8`);
    await new Promise<void>((resolve) => target.server.close(() => resolve()));
  });
});
