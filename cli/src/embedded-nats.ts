import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CodedError } from '@cleave/proto';

/** Why an embedded nats-server could not be started. */
export const NatsServerErrorCode = {
  BinaryNotFound: 'binary_not_found',
  StartupFailed: 'startup_failed',
  StartupTimeout: 'startup_timeout',
} as const;
/** One of {@link NatsServerErrorCode}. */
export type NatsServerErrorCode = (typeof NatsServerErrorCode)[keyof typeof NatsServerErrorCode];

/** Raised when the local nats-server cannot be found, fails, or never becomes ready. */
export class NatsServerError extends CodedError<NatsServerErrorCode> {
  override readonly name = 'NatsServerError';
}

/** Options for {@link startEmbeddedNats}. Every field is optional. */
export interface EmbeddedNatsOptions {
  /** Path to the nats-server binary. @default the first `nats-server` on PATH, /usr/sbin or /usr/local/bin */
  binary?: string;
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Client port; -1 picks a free ephemeral port. @default -1 */
  port?: number;
  /** Largest message the server accepts, in bytes. @default 8 MiB */
  maxPayloadBytes?: number;
  /** Enable JetStream (needed for KV and the Object Store). @default true */
  jetstream?: boolean;
  /** Directory for JetStream storage and the ports file. @default a fresh temp dir, removed on stop */
  storeDir?: string;
  /** How long to wait for the server to accept clients. @default 10000 */
  readyTimeoutMs?: number;
  /** Where the server's own log goes. @default 'ignore' */
  serverLog?: 'inherit' | 'ignore';
}

/** A running nats-server owned by this process. Stop it with `stop()` or `await using`. */
export interface EmbeddedNats extends AsyncDisposable {
  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  /** The client port actually bound. */
  readonly port: number;
  /** HTTP monitoring base URL (`/healthz`, `/varz`, `/jsz`). */
  readonly monitorUrl: string;
  /** Directory that holds JetStream data. */
  readonly storeDir: string;
  /** Effective max_payload in bytes. */
  readonly maxPayloadBytes: number;
  /** OS process id of the server. */
  readonly pid: number;
  /** Resolves with the exit code (or signal) when the server process ends for any reason. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  /** Sends SIGTERM, waits for exit (SIGKILL after 5 s), and removes a temp store dir. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
const FALLBACK_BIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];
const INSTALL_HINT =
  'install it with `sudo apt-get install nats-server` (Debian/Ubuntu) or from https://nats.io/download, ' +
  'or pass its path (cleave --nats-server-bin, or NATS_SERVER_BIN)';

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds the nats-server binary, or throws a {@link NatsServerError} that says how to install it. */
export async function resolveNatsServerBinary(
  explicit?: string,
  searchPath: string = process.env['PATH'] ?? '',
): Promise<string> {
  if (explicit !== undefined) {
    if (await isExecutable(explicit)) return explicit;
    throw new NatsServerError(
      NatsServerErrorCode.BinaryNotFound,
      `nats-server not found or not executable at '${explicit}': ${INSTALL_HINT}`,
    );
  }
  const dirs = [...searchPath.split(delimiter).filter(Boolean), ...FALLBACK_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    if (await isExecutable(candidate)) return candidate;
  }
  throw new NatsServerError(
    NatsServerErrorCode.BinaryNotFound,
    `nats-server not found on PATH or in ${FALLBACK_BIN_DIRS.join(', ')}: ${INSTALL_HINT}`,
  );
}

/** Renders the server config. Quoted strings keep temp paths with odd characters safe. */
function renderConfig(o: {
  host: string;
  port: number;
  maxPayloadBytes: number;
  jetstream: boolean;
  storeDir: string;
}): string {
  const lines = [
    `host: ${JSON.stringify(o.host)}`,
    `port: ${o.port}`,
    // Monitoring on an ephemeral port too, so parallel servers never collide.
    `http: ${JSON.stringify(`${o.host}:-1`)}`,
    `max_payload: ${o.maxPayloadBytes}`,
    // Reading the real ports from this file is how we learn which ephemeral ports were bound.
    `ports_file_dir: ${JSON.stringify(o.storeDir)}`,
  ];
  if (o.jetstream) {
    lines.push(`jetstream: { store_dir: ${JSON.stringify(join(o.storeDir, 'jetstream'))} }`);
  }
  return lines.join('\n') + '\n';
}

interface PortsFile {
  nats?: string[];
  monitoring?: string[];
}

async function readPortsFile(dir: string, pid: number): Promise<PortsFile | undefined> {
  const name = (await readdir(dir)).find((f) => f === `nats-server_${pid}.ports`);
  if (name === undefined) return undefined;
  try {
    return JSON.parse(await readFile(join(dir, name), 'utf8')) as PortsFile;
  } catch {
    return undefined; // written non-atomically; read again on the next poll
  }
}

async function isHealthy(monitorUrl: string, jetstream: boolean): Promise<boolean> {
  try {
    const res = await fetch(`${monitorUrl}/healthz${jetstream ? '?js-enabled=true' : ''}`);
    return res.ok;
  } catch {
    return false;
  }
}

function exitPromise(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
  });
}

/**
 * Starts a local nats-server with JetStream and a raised max_payload on ephemeral ports, and
 * resolves once `/healthz` reports it ready (including JetStream when enabled).
 */
export async function startEmbeddedNats(options: EmbeddedNatsOptions = {}): Promise<EmbeddedNats> {
  const binary = await resolveNatsServerBinary(options.binary);
  const host = options.host ?? '127.0.0.1';
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD;
  const jetstream = options.jetstream ?? true;
  const ownsStoreDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'cleave-nats-')));
  await mkdir(storeDir, { recursive: true });
  const configPath = join(storeDir, 'nats-server.conf');
  await writeFile(configPath, renderConfig({ host, port: options.port ?? -1, maxPayloadBytes, jetstream, storeDir }));

  const child = spawn(binary, ['-c', configPath], {
    stdio: ['ignore', options.serverLog ?? 'ignore', options.serverLog === 'inherit' ? 'inherit' : 'pipe'],
  });
  const exited = exitPromise(child);
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const cleanup = async (): Promise<void> => {
    if (ownsStoreDir) await rm(storeDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  let ports: PortsFile | undefined;
  for (;;) {
    const early = await Promise.race([exited, spawnError, sleep(25).then(() => 'waiting' as const)]);
    if (early !== 'waiting') {
      await cleanup();
      const detail = early instanceof Error ? early.message : `exited with ${String(early)}`;
      throw new NatsServerError(
        NatsServerErrorCode.StartupFailed,
        `nats-server ${detail}${stderrTail ? `: ${stderrTail.trim().split('\n').at(-1) ?? ''}` : ''}`,
        early instanceof Error ? { cause: early } : undefined,
      );
    }
    if (child.pid !== undefined) ports ??= await readPortsFile(storeDir, child.pid);
    const monitor = ports?.monitoring?.[0];
    if (ports?.nats?.[0] !== undefined && monitor !== undefined && (await isHealthy(monitor, jetstream))) {
      break;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      await cleanup();
      throw new NatsServerError(
        NatsServerErrorCode.StartupTimeout,
        `nats-server did not become ready within ${options.readyTimeoutMs ?? 10_000} ms`,
      );
    }
  }

  const url = ports.nats?.[0] ?? '';
  const monitorUrl = ports.monitoring?.[0] ?? '';
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      }
      await cleanup();
    })();
    return stopping;
  };

  return {
    url,
    port: Number(new URL(url).port),
    monitorUrl,
    storeDir,
    maxPayloadBytes,
    pid: child.pid ?? -1,
    exited,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
