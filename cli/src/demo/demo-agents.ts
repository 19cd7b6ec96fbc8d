// One emulated gateway: a power-supply directory with its battery, an emulated link to NATS, a CPU quota, and
// `cleave edge --config` running inside them (inside the link's network namespace for kernel links).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeClient } from '@cleave/edge-agent';
import { createCpuQuotaGroup, type CpuQuotaGroup } from '../cpu-quota.js';
import { createEmulatedLink } from '../link/emulated-link.js';
import type { EmulatedLink, LinkKind } from '../link/link-types.js';
import type { DemoAgentSpec } from './demo-agents-spec.js';
import { type CleaveChild, spawnCleave } from './demo-process.js';

/** A running demo gateway. */
export interface DemoAgent {
  readonly spec: DemoAgentSpec;
  readonly link: EmulatedLink;
  readonly quota: CpuQuotaGroup;
  readonly process: CleaveChild;
  readonly client: EdgeClient;
  /** Base URL of the agent's HTTP API (its Prometheus metrics are at `/metrics`). */
  readonly httpUrl: string;
  /** The split pinned in its config, if any. */
  readonly pinned: string | undefined;
  /** Stops the agent (a drain on SIGTERM), then removes its link and cgroup. Idempotent. */
  close(): Promise<void>;
}

/** What {@link startDemoAgent} needs. */
export interface StartDemoAgentOptions {
  readonly spec: DemoAgentSpec;
  readonly index: number;
  readonly linkKind: LinkKind;
  readonly nats: { host: string; port: number };
  readonly prefix: string;
  readonly modelId: string;
  readonly workDir: string;
  /** CPU cores of the emulated gateway. */
  readonly cores: number;
  /** Split to pin, resolved from the bundle. */
  readonly pin: string | undefined;
  /** Environment of the agent process. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Told the agent's pid as soon as it is spawned (for the run record). */
  readonly onSpawn?: (pid: number | undefined) => Promise<void>;
}

/** Writes a Linux power-supply class directory: a discharging battery at `percent`, or a mains supply online. */
export async function writeBatteryDir(dir: string, percent: number | undefined): Promise<void> {
  const files: Record<string, string> =
    percent === undefined
      ? { 'AC/type': 'Mains', 'AC/online': '1' }
      : { 'BAT0/type': 'Battery', 'BAT0/capacity': String(percent), 'BAT0/status': 'Discharging' };
  for (const [file, value] of Object.entries(files)) {
    await mkdir(join(dir, file, '..'), { recursive: true });
    await writeFile(join(dir, file), `${value}\n`);
  }
}

/** Starts one gateway and resolves when its local API is ready (bundle fetched and loaded). */
export async function startDemoAgent(options: StartDemoAgentOptions): Promise<DemoAgent> {
  const { spec } = options;
  const dir = join(options.workDir, 'agents', spec.id);
  const batteryDir = join(dir, 'power_supply');
  await writeBatteryDir(batteryDir, spec.batteryPercent);
  const link = await createEmulatedLink({
    kind: options.linkKind,
    target: options.nats,
    index: options.index,
    // Unshaped until the agent is ready: the bundle (about 10 MB with every candidate) is provisioned as over a
    // LAN before the gateway goes into the field; at 1.1 Mbps the fetch alone would take over a minute.
    initial: { rateMbps: Infinity, delayMs: 0 },
  });
  // A full core until the agent is ready, then the device's quota: start-up (Node, the bundle, onnxruntime sessions)
  // under a 0.05-core quota would take minutes, and a provisioned gateway has done it before it serves.
  const quota = await createCpuQuotaGroup(`cleave-demo-${process.pid}-${spec.id}`, 1);
  const config = {
    agentId: spec.id,
    prefix: options.prefix,
    nats: { servers: [link.url], name: `cleave-edge-${spec.id}`, reconnectWaitMs: 250 },
    models: [{ id: options.modelId, objective: 'auto', ...(options.pin ? { pin: options.pin } : {}) }],
    cacheDir: join(dir, 'cache'),
    http: { host: link.agentHost, port: 0 },
    battery: { path: batteryDir, pollMs: 1000 },
    heartbeatIntervalMs: 1000,
    drain: { timeoutMs: 3000 },
  };
  const configPath = join(dir, 'edge.yaml');
  // JSON is YAML: no YAML writer needed.
  await writeFile(configPath, JSON.stringify(config, null, 2) + '\n');
  const child = spawnCleave(`edge agent ${spec.id}`, ['edge', '--config', configPath], {
    spawner: (command, args, spawnOptions) => quota.spawn(command, args, spawnOptions),
    wrap: (command, args) => link.wrap(command, args),
    env: options.env,
  });
  await options.onSpawn?.(child.pid);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await child.stop(8000);
      await link.close();
      await quota.remove();
    })();
    return closing;
  };
  try {
    const started = await child.waitForLog('edge agent started', 30_000);
    const url = typeof started['http'] === 'string' ? started['http'] : undefined;
    if (url === undefined) throw new Error(`edge agent ${spec.id} started without its HTTP API`);
    const client = new EdgeClient({ url, timeoutMs: 10_000 });
    const deadline = Date.now() + 60_000;
    while (!(await client.ready())) {
      if (Date.now() > deadline) throw new Error(`edge agent ${spec.id} not ready after 60 s: ${child.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await link.shape(spec.link);
    await quota.setCores(options.cores);
    return { spec, link, quota, process: child, client, httpUrl: url, pinned: options.pin, close };
  } catch (err) {
    await close();
    throw err;
  }
}
