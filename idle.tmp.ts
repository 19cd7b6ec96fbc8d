import { mkdtemp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoAgent, startEmbeddedNats, resolveLinkMode } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { connect } from '@nats-io/transport-node';
import { buildEdgeBundle, fashionSamples, startCloudProcess, testTrustEnv } from './test/harness/mod.js';

const cpuMs = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const work = await mkdtemp(join(tmpdir(), 'idle-'));
const bundle = await buildEdgeBundle(join(work, 'b'), { calibrate: false });
const nats = await startEmbeddedNats();
const nc = await connect({ servers: nats.url });
await publishBundle(nc, bundle.dir, { prefix: 'cleave', makeCurrent: true });
const cloud = await startCloudProcess(['--nats-url', nats.url, '--prefix', 'cleave', '--http-port', '0']);
const mode = await resolveLinkMode('auto');
const agent = await startDemoAgent({
  spec: { id: 'gw', label: 'gw', link: { rateMbps: Number(process.env.MBPS ?? 100), delayMs: 10 }, batteryPercent: undefined, pin: undefined },
  index: 0, linkKind: mode.kind, nats: { host: '127.0.0.1', port: nats.port }, prefix: 'cleave', modelId: 'fmnist',
  workDir: work, cores: Number(process.env.CORES ?? 1), pin: process.env.PIN, env: { ...process.env, ...testTrustEnv() },
});
const pid = agent.process.pid!;
const { images } = await fashionSamples(64);
await new Promise((r) => setTimeout(r, 3000));
import { readdirSync } from 'node:fs';
const threads = () => Object.fromEntries(readdirSync(`/proc/${pid}/task`).map((t) => {
  const raw = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
  const name = raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
  const f = raw.split(') ')[1]!.split(' ');
  return [`${t}:${name}`, (Number(f[11]) + Number(f[12])) * 10];
}));
const th0 = threads();
if (process.env.PERF) { const { execSync } = await import('node:child_process'); console.log(execSync(`perf stat -e task-clock,context-switches,page-faults -p ${pid} -- sleep 10 2>&1; timeout 3 strace -tt -e trace=epoll_pwait,read,write,writev,openat,futex -p ${pid} 2>&1 | tail -150`, { encoding: 'utf8' })); }
let t0 = cpuMs(pid), w0 = Date.now();
await new Promise((r) => setTimeout(r, 20_000));
const th1 = threads();
for (const [k, v] of Object.entries(th1)) if (v - (th0[k] ?? 0) > 0) console.log(`  ${k}: ${v - (th0[k] ?? 0)} ms`);
console.log(`idle: ${((cpuMs(pid) - t0) / ((Date.now() - w0) / 1000)).toFixed(1)} CPU ms/s`);
if (process.env.IDLE_ONLY) { await agent.close(); cloud.child.kill('SIGTERM'); await cloud.exited; await nc.close(); await nats.stop(); process.exit(0); }
t0 = cpuMs(pid); w0 = Date.now();
let n = 0; const ran: Record<string, number> = {};
const lat: number[] = [];
while (Date.now() - w0 < 20_000) {
  const s = performance.now();
  const r = await agent.client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: images[n % images.length]! } });
  lat.push(performance.now() - s);
  ran[r.ranOn] = (ran[r.ranOn] ?? 0) + 1; n++;
  await new Promise((r) => setTimeout(r, 200));
}
const secs = (Date.now() - w0) / 1000;
lat.sort((a, b) => a - b);
console.log(`load 5/s: ${((cpuMs(pid) - t0) / secs).toFixed(1)} CPU ms/s, ${n} requests, p50 ${lat[lat.length >> 1]!.toFixed(1)} ms`, ran);
await agent.close(); cloud.child.kill('SIGTERM'); await cloud.exited; await nc.close(); await nats.stop();
