// Runs nats-server from the committed configs in deploy/nats/ (single node or the 3-node cluster). The whole
// directory is copied to a temp dir so relative includes resolve exactly as in a deployment, and only what would
// clash on a shared CI machine is rewritten in the copies of the started files: listen ports, the client host (to
// loopback) and the JetStream store directory. Accounts, users, permissions, JetStream limits and the cluster
// settings are the committed text, byte for byte.
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamConfig } from '@nats-io/jetstream';
import { REPO_ROOT, resolveNatsServerBinary } from '@cleave/cli';
import type { NatsClientSettings } from '@cleave/node-runtime';

/** The committed NATS configs. */
export const DEPLOY_NATS_DIR = join(REPO_ROOT, 'deploy', 'nats');

/** The example credentials (`deploy/nats/dev-credentials.env`): variable name → value. */
export async function readDevCredentials(): Promise<Readonly<Record<string, string>>> {
  const text = await readFile(join(DEPLOY_NATS_DIR, 'dev-credentials.env'), 'utf8');
  const vars: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) vars[match[1]!] = match[2]!.trim();
  }
  return Object.freeze(vars);
}

/**
 * NATS settings of a user of deploy/nats/accounts.conf with its example password, for `connectNats`: the programs'
 * own connection path, so the client takes the inbox prefix a Cleave program derives from its user name.
 */
export function deployUserSettings(nats: DeployNats, user: string): NatsClientSettings {
  return { servers: [...nats.urls], name: `test:${user}`, user, pass: devPassword(nats.credentials, user) };
}

/** Password of a user of deploy/nats/accounts.conf in the example credentials (`gw-wifi` → CLEAVE_PASS_GW_WIFI). */
export function devPassword(credentials: Readonly<Record<string, string>>, user: string): string {
  const name = `CLEAVE_PASS_${user.toUpperCase().replaceAll('-', '_')}`;
  const value = credentials[name];
  if (value === undefined) throw new Error(`dev-credentials.env has no ${name} for user ${user}`);
  return value;
}

/** The bucket streams to provision (`deploy/nats/streams/*.json`), by stream name. */
export async function readDeployStreams(): Promise<ReadonlyMap<string, StreamConfig>> {
  const dir = join(DEPLOY_NATS_DIR, 'streams');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  const streams = new Map<string, StreamConfig>();
  for (const file of files) {
    const config = JSON.parse(await readFile(join(dir, file), 'utf8')) as StreamConfig;
    streams.set(config.name, config);
  }
  return streams;
}

/** One running node. */
export interface DeployNatsNode {
  /** `server_name` from its config. */
  readonly name: string;
  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  readonly monitorUrl: string;
  readonly pid: number;
  /** The rewritten config the node runs (in the temp copy). */
  readonly configPath: string;
  /** Resolves with the exit code or signal when the process ends. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** The server's log so far (stderr, last 256 KiB). */
  log(): string;
  /** Sends a signal (e.g. SIGKILL to simulate a crash) and waits for the process to end. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Nodes started from deploy configs. Stop with `stop()` or `await using`. */
export interface DeployNats extends AsyncDisposable {
  readonly nodes: readonly DeployNatsNode[];
  /** Client URLs of all nodes, for `connect({ servers })`. */
  readonly urls: readonly string[];
  /** The example credentials the servers were started with. */
  readonly credentials: Readonly<Record<string, string>>;
  /** SIGTERM (SIGKILL after 5 s) every node still running, then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startDeployNats}. */
export interface StartDeployNatsOptions {
  /** Config files relative to deploy/nats/, e.g. `['cluster/node-a.conf', ...]` or `['single-node.conf']`. */
  readonly configs: readonly string[];
  /** How long to wait for every node to be healthy (JetStream included). @default 30000 */
  readonly readyTimeoutMs?: number;
  /**
   * Runs on the temp copy of deploy/nats before any server starts, e.g. to write the fragment a JWT-mode config
   * includes (`cleave fleet init --dir <copy>/jwt/fleet`).
   */
  readonly prepare?: (copyDir: string) => Promise<void>;
}

const LOG_LIMIT = 256 * 1024;

/** Starts one nats-server per config and waits until each answers /healthz (for a cluster: a meta leader exists). */
export async function startDeployNats(options: StartDeployNatsOptions): Promise<DeployNats> {
  const binary = await resolveNatsServerBinary(process.env['NATS_SERVER_BIN'] || undefined);
  const credentials = await readDevCredentials();
  const dir = await mkdtemp(join(tmpdir(), 'cleave-deploy-nats-'));
  const copy = join(dir, 'nats');
  await cp(DEPLOY_NATS_DIR, copy, { recursive: true });
  await options.prepare?.(copy);

  const texts = await Promise.all(options.configs.map((c) => readFile(join(copy, c), 'utf8')));
  // The same committed port number means the same listener in every file (node-b's route to 6223 is node-b's
  // cluster port), so each distinct number gets one fresh port.
  const committedPorts = new Set(texts.flatMap(listenPorts));
  const fresh = new Map<number, number>();
  for (const port of committedPorts) fresh.set(port, await freePort());

  const nodes: Node[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, config] of options.configs.entries()) {
      const rewritten = rewriteConfig(texts[i]!, fresh, join(dir, `store-${i}`));
      const configPath = join(copy, config);
      await writeFile(configPath, rewritten.text);
      nodes.push(startNode(binary, configPath, rewritten, credentials));
    }
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
    await Promise.all(nodes.map((n) => n.ready(deadline)));
  } catch (error) {
    const logs = nodes.map((n) => `--- ${n.name} ---\n${n.log().slice(-2000)}`).join('\n');
    await stop();
    throw new Error(`deploy nats did not start: ${(error as Error).message}\n${logs}`, { cause: error });
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    credentials,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

interface Rewritten {
  readonly text: string;
  readonly name: string;
  readonly clientPort: number;
  readonly monitorPort: number;
}

interface Node extends DeployNatsNode {
  ready(deadline: number): Promise<void>;
  stop(): Promise<void>;
}

const PORT_LINE = /^(\s*port:\s*)(\d+)\s*$/m;
const HTTP_LINE = /^(\s*http:\s*[\w.]+:)(\d+)\s*$/m;
const LISTEN_LINE = /^(\s*listen:\s*[\w.]+:)(\d+)\s*$/m;
const ROUTE_URL = /(nats-route:\/\/[\w.]+:)(\d+)/g;

function listenPorts(text: string): number[] {
  const ports = [PORT_LINE, HTTP_LINE, LISTEN_LINE].map((re) => re.exec(text)?.[2]);
  for (const m of text.matchAll(ROUTE_URL)) ports.push(m[2]);
  return ports.filter((p) => p !== undefined).map(Number);
}

function rewriteConfig(text: string, fresh: ReadonlyMap<number, number>, storeDir: string): Rewritten {
  const name = /^\s*server_name:\s*(\S+)\s*$/m.exec(text)?.[1];
  const port = PORT_LINE.exec(text)?.[2];
  const http = HTTP_LINE.exec(text)?.[2];
  if (name === undefined || port === undefined || http === undefined || !/^\s*store_dir:/m.test(text)) {
    throw new Error('a deploy config must set server_name, port, http host:port and jetstream.store_dir');
  }
  const map = (p: string): string => String(fresh.get(Number(p)) ?? p);
  const out = text
    .replace(PORT_LINE, (_, head: string, p: string) => `${head}${map(p)}`)
    .replace(HTTP_LINE, (_, head: string, p: string) => `${head}${map(p)}`)
    .replace(LISTEN_LINE, (_, head: string, p: string) => `${head}${map(p)}`)
    .replace(ROUTE_URL, (_, head: string, p: string) => `${head}${map(p)}`)
    // Clients on loopback only, whatever the committed bind address.
    .replace(/^(\s*host:\s*)\S+\s*$/m, '$1127.0.0.1')
    .replace(/^(\s*store_dir:\s*).*$/m, `$1${JSON.stringify(storeDir)}`);
  return { text: out, name, clientPort: Number(map(port)), monitorPort: Number(map(http)) };
}

function startNode(
  binary: string,
  configPath: string,
  config: Rewritten,
  credentials: Readonly<Record<string, string>>,
): Node {
  const child = spawn(binary, ['-c', configPath], {
    env: { ...process.env, ...credentials },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-LOG_LIMIT);
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
    child.once('error', () => resolve(null));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const monitorUrl = `http://127.0.0.1:${config.monitorPort}`;
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (running()) child.kill(signal);
    await exited;
  };
  return {
    name: config.name,
    url: `nats://127.0.0.1:${config.clientPort}`,
    monitorUrl,
    pid: child.pid ?? -1,
    configPath,
    exited,
    log: () => log,
    kill,
    async ready(deadline) {
      for (;;) {
        if (!running()) throw new Error(`${config.name} exited with ${String(await exited)}`);
        if (await healthy(monitorUrl)) return;
        if (Date.now() > deadline) throw new Error(`${config.name} was not healthy in time`);
        await sleep(100);
      }
    },
    async stop() {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// /healthz answers 200 only when JetStream is up; in a cluster, when the node has found the meta leader.
async function healthy(monitorUrl: string): Promise<boolean> {
  try {
    return (await fetch(`${monitorUrl}/healthz`)).ok;
  } catch {
    return false;
  }
}

/** The JetStream meta leader as one node sees it (`/jsz`), or undefined while there is none. */
export async function metaLeader(node: DeployNatsNode): Promise<string | undefined> {
  try {
    const jsz = (await (await fetch(`${node.monitorUrl}/jsz`)).json()) as { meta_cluster?: { leader?: string } };
    return jsz.meta_cluster?.leader || undefined;
  } catch {
    return undefined;
  }
}

/** Waits until every listed node reports the same meta leader; returns its name. */
export async function waitForMetaLeader(nodes: readonly DeployNatsNode[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leaders = await Promise.all(nodes.map(metaLeader));
    const first = leaders[0];
    if (first !== undefined && leaders.every((l) => l === first)) return first;
    if (Date.now() > deadline) throw new Error(`no common JetStream meta leader: ${JSON.stringify(leaders)}`);
    await sleep(100);
  }
}

/** A TCP port that was free a moment ago on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A permission violation found in a server log. */
export interface LoggedViolation {
  readonly kind: 'publish' | 'subscription';
  readonly user: string;
  readonly subject: string;
  readonly queue: string | undefined;
}

const VIOLATION = /(Publish|Subscription) Violation - User "([^"]+)", Subject "([^"]+)"(?:, Queue: "([^"]*)")?/g;

/** The permission violations a nats-server logged: it logs every refused publish and subscription as an error. */
export function loggedViolations(log: string): LoggedViolation[] {
  return [...log.matchAll(VIOLATION)].map((m) => ({
    kind: m[1] === 'Publish' ? 'publish' : 'subscription',
    user: m[2]!,
    subject: m[3]!,
    queue: m[4],
  }));
}
