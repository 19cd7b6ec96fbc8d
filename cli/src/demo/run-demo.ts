// The main job, step by step: NATS, the bundle (edge profiled under its quota), the cloud replica, the console,
// three gateways on emulated links and batteries, the t10k stream with a cut, and the summary. Every step that
// starts something registers how to undo it, so a failure, Ctrl-C or SIGTERM leaves nothing behind.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createConsoleApp,
  createConsoleAuth,
  createConsoleData,
  startConsoleServer,
  type ConsoleServer,
} from '@cleave/console';
import { CodedError, parseBundleManifest } from '@cleave/proto';
import { createCpuQuotaGroup } from '../cpu-quota.js';
import { startEmbeddedNats } from '../embedded-nats.js';
import { resolveLinkMode } from '../link/emulated-link.js';
import type { LinkMode } from '../link/link-types.js';
import { connectNats } from '@cleave/node-runtime';
import type { CleaveLogger } from '@cleave/node-runtime/command-line';
import type { DeviceClass } from '../device-classes.js';
import { type DemoAgent, startDemoAgent } from './demo-agents.js';
import { DEMO_AGENTS, chooseCutAgent, pinnedSplit } from './demo-agents-spec.js';
import { buildDemoBundle, createDemoPublisherKey, publishDemoBundle } from './demo-bundle.js';
import { createCleanupStack, createRunRecord, removeStaleDemoGroups, removeStaleRuns } from './demo-cleanup.js';
import { createLiveDisplay, summaryRows } from './demo-display.js';
import { describeDemoModel, loadDemoImages } from './demo-model.js';
import { spawnCleave } from './demo-process.js';
import { formatSummaryTable, type SummaryRow } from './demo-stats.js';
import { runImageStream, type StreamEnd } from './demo-stream.js';

/** Everything `cleave demo` can be told. */
export interface DemoRunOptions {
  readonly model: string;
  readonly data: string;
  readonly end: StreamEnd;
  readonly ratePerAgent: number;
  readonly link: LinkMode;
  /** The gateways' device class; `edgeCores` is its quota unless overridden. */
  readonly device: DeviceClass;
  readonly edgeCores: number;
  readonly cutSeconds: number;
  readonly pin: boolean;
  readonly profileRuns: number;
  readonly consoleHost: string;
  readonly consolePort: number;
  readonly consoleToken: string | undefined;
}

/** What the process gives the run. */
export interface DemoRunDeps {
  readonly log: CleaveLogger;
  readonly interactive: boolean;
  readonly natsServerBin: string | undefined;
  /** Environment the children (profiler, cloud replica, agents) inherit. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves on SIGINT/SIGTERM. */
  readonly shutdownSignal: Promise<string>;
  /** Where the console address and the final summary go. */
  readonly out: (text: string) => void;
}

/** The result of a finished run. */
export interface DemoRunResult {
  readonly rows: readonly SummaryRow[];
  readonly interrupted: boolean;
}

const PREFIX = 'cleave';

/**
 * The children's environment: the caller's, without the settings the cloud and edge commands would read over the
 * demo's own (NATS_URL, CLEAVE_* credentials, ports and paths), so a shell set up for a real deployment still runs
 * the demo as documented. The log level is kept.
 */
export function demoChildEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(env).filter(
      ([key]) => key === 'CLEAVE_LOG_LEVEL' || !(key === 'NATS_URL' || key.startsWith('CLEAVE_')),
    ),
  );
}

/** Why the demo stopped early: one reason, a shutdown signal arrived. */
const InterruptedCode = { Signal: 'interrupted' } as const;

/** The demo was stopped by a signal at a checkpoint; it tears down in order and exits as asked. */
class Interrupted extends CodedError<(typeof InterruptedCode)[keyof typeof InterruptedCode]> {
  override readonly name = 'Interrupted';
}

/** Runs the demo until its end condition or a signal, then tears everything down. */
export async function runDemo(options: DemoRunOptions, deps: DemoRunDeps): Promise<DemoRunResult> {
  const { log } = deps;
  const cleanup = createCleanupStack();
  const childEnv = demoChildEnv(deps.env);
  let signal: string | undefined;
  void deps.shutdownSignal.then((s) => (signal = s));
  const checkpoint = () => {
    if (signal !== undefined) throw new Interrupted(InterruptedCode.Signal, `stopped by ${signal}`);
  };
  try {
    // --- emulation capabilities, said once ---
    const links = await resolveLinkMode(options.link);
    if (links.kernelUnavailable !== undefined) {
      log.warn({ reason: links.kernelUnavailable }, 'kernel link shaping unavailable; using the userspace proxy');
    }
    const staleRuns = await removeStaleRuns();
    const stale = await removeStaleDemoGroups();
    if (staleRuns.length + stale.length > 0) {
      log.info({ runs: staleRuns, groups: stale }, 'cleaned up after an earlier run that did not stop cleanly');
    }
    const model = await describeDemoModel(options.model);
    const profileQuota = await createCpuQuotaGroup(`cleave-demo-${process.pid}-profile`, options.edgeCores);
    cleanup.push('profile quota', () => profileQuota.remove());
    if (profileQuota.cores === null) {
      log.warn({ reason: profileQuota.unavailableReason }, 'edge CPU quota unavailable; gateways run at full speed');
    }
    log.info(
      {
        links:
          links.kind === 'kernel' ? 'kernel: netns + veth, tc tbf each way, delay in userspace' : 'userspace proxy',
        device: options.device.name,
        edgeCores: profileQuota.cores,
        model: model.id,
      },
      'emulation',
    );

    // --- NATS and the bundle ---
    const workDir = await mkdtemp(join(tmpdir(), 'cleave-demo-'));
    cleanup.push('work dir', () => rm(workDir, { recursive: true, force: true }));
    const record = await createRunRecord(workDir);
    cleanup.push('run record', () => record.remove());
    const nats = await startEmbeddedNats({
      storeDir: join(workDir, 'nats'),
      ...(deps.natsServerBin ? { binary: deps.natsServerBin } : {}),
    });
    cleanup.push('nats-server', () => nats.stop());
    await record.addPid(nats.pid);
    log.info({ url: nats.url, monitor: nats.monitorUrl }, 'nats-server ready');
    checkpoint();
    const bundle = await buildDemoBundle({
      model,
      holdoutSamples: 3000,
      dataDir: options.data,
      workDir,
      edgeQuota: profileQuota,
      runs: options.profileRuns,
      log,
      env: childEnv,
    });
    checkpoint();
    const nc = await connectNats({ servers: [nats.url], name: 'cleave-demo' }, 'cleave-demo');
    cleanup.push('demo NATS connection', () => nc.drain().catch(() => undefined));
    // Signed with a key made for this run; the replica and the agents trust only it (CLEAVE_TRUSTED_PUBLISHERS).
    const publisher = await createDemoPublisherKey(workDir);
    log.info({ publicKey: publisher.publicKey }, 'publisher key created');
    await publishDemoBundle(nc, bundle.outDir, PREFIX, log, publisher.seed);
    const trustingEnv = { ...childEnv, CLEAVE_TRUSTED_PUBLISHERS: publisher.publicKey };

    // --- cloud replica (a child process, so its CPU is its own) ---
    const cloud = spawnCleave(
      'cloud replica',
      ['cloud', '--nats-url', nats.url, '--prefix', PREFIX, '--replica', 'cloud-1', '--http-port', '0'],
      { env: trustingEnv },
    );
    cleanup.push('cloud replica', () => cloud.stop());
    await record.addPid(cloud.pid);
    await cloud.waitForLog('cloud replica ready', 30_000);
    const cloudHttp = (await cloud.waitForLog('health and metrics listening', 1000))['url'];
    log.info({ pid: cloud.pid }, 'cloud replica ready');
    checkpoint();

    // --- console ---
    const token = options.consoleToken ?? randomBytes(18).toString('base64url');
    const app = await createConsoleApp({
      data: createConsoleData(nc, {
        prefix: PREFIX,
        trustedPublishers: [{ publicKey: publisher.publicKey, name: 'demo publisher' }],
      }),
      auth: createConsoleAuth({ token, secret: randomBytes(32).toString('hex') }),
    });
    let server: ConsoleServer;
    try {
      server = await startConsoleServer(app, { host: options.consoleHost, port: options.consolePort });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.consolePort === 0) throw err;
      log.warn({ port: options.consolePort }, 'console port in use; serving on a free port instead');
      server = await startConsoleServer(app, { host: options.consoleHost, port: 0 });
    }
    cleanup.push('console', () => server.close());
    log.info({ url: server.url }, 'console ready');
    deps.out(`\nconsole: ${server.url}  (login token: ${token})\n\n`);

    // --- gateways ---
    const manifest = parseBundleManifest(JSON.parse(await readFile(join(bundle.outDir, 'manifest.json'), 'utf8')));
    const quotaCores = profileQuota.cores === null ? 1 : options.edgeCores;
    const agents: DemoAgent[] = [];
    const target = { host: '127.0.0.1', port: nats.port };
    for (const [index, spec] of DEMO_AGENTS.entries()) {
      checkpoint();
      const pin = options.pin && spec.pin ? pinnedSplit(manifest, spec.pin) : undefined;
      const agent = await startDemoAgent({
        spec,
        index,
        linkKind: links.kind,
        nats: target,
        prefix: PREFIX,
        modelId: model.id,
        workDir,
        cores: quotaCores,
        pin,
        onSpawn: (pid) => record.addPid(pid),
        env: trustingEnv,
      });
      cleanup.push(`edge agent ${spec.id}`, () => agent.close());
      agents.push(agent);
      log.info(
        {
          agent: spec.id,
          link: agent.link.name,
          url: agent.link.url,
          netns: agent.link.netns ?? null,
          pin: pin ?? null,
          ...spec.link,
        },
        'edge agent ready',
      );
    }
    checkpoint();
    // Where Prometheus (and deploy/grafana/cleave-dashboard.json) can scrape this run.
    deps.out(
      `metrics: cloud-1 ${String(cloudHttp)}/metrics; ` +
        `${agents.map((a) => `${a.spec.id} ${a.httpUrl}/metrics`).join('; ')}\n\n`,
    );

    // --- the stream ---
    const data = await loadDemoImages(model, options.data, 't10k');
    const display = createLiveDisplay({ agents, interactive: deps.interactive, log, logEveryMs: 5000 });
    const chooseCut = (stats: ReadonlyMap<string, { offloads: number }>) => {
      const id = chooseCutAgent(
        agents.map((a) => a.spec.id),
        (agentId) => stats.get(agentId)?.offloads ?? 0,
      );
      return agents.find((a) => a.spec.id === id);
    };
    const stop = deps.shutdownSignal.then(() => undefined);
    const { progress, reason } = await runImageStream({
      agents,
      model,
      data,
      end: options.end,
      ratePerAgent: options.ratePerAgent,
      cut: { choose: chooseCut, forMs: options.cutSeconds * 1000 },
      stop,
      tickMs: 1000,
      onTick: (p) => display.update(p),
      onCut: (event, agent) => {
        const text =
          event === 'cut'
            ? `link of ${agent.spec.id} cut for ${options.cutSeconds} s`
            : `link of ${agent.spec.id} restored`;
        display.note(text);
        if (!deps.interactive) log.info({ agent: agent.spec.id, link: agent.link.name }, text);
      },
    }).finally(() => display.stop());
    const rows = summaryRows(agents, progress);
    const seconds = (progress.elapsedMs / 1000).toFixed(1);
    deps.out(
      `Cleave demo: ${model.id}, ${progress.done} Fashion-MNIST t10k images${model.resize ? ` (upsampled to ${model.resize}×${model.resize})` : ''} in ${seconds} s through ${agents.length} gateways\n` +
        `links: ${links.kind === 'kernel' ? 'kernel (network namespaces, tc tbf; delay in userspace)' : 'userspace TCP proxy'}; ` +
        `edge: ${profileQuota.cores === null ? 'unthrottled' : `${options.device.name} class, ${profileQuota.cores} core each (cgroup quota)`}; ` +
        `cut: ${progress.cutAgent === undefined ? 'none' : `${progress.cutAgent} for ${options.cutSeconds} s at 40%`}\n\n` +
        formatSummaryTable(rows) +
        '\n',
    );
    if (progress.done > 0 && rows.every((r) => r.requests === 0)) {
      throw new Error(`no request was answered; last error: ${agentsLastError(progress.stats)}`);
    }
    return { rows, interrupted: reason === 'stopped' };
  } catch (err) {
    if (err instanceof Interrupted) {
      log.info({ signal }, 'interrupted during start-up');
      return { rows: [], interrupted: true };
    }
    throw err;
  } finally {
    log.info('stopping: gateways drain, then the console, the cloud replica and nats-server');
    await cleanup.run((name, error) => log.warn({ step: name, err: (error as Error).message }, 'cleanup step failed'));
    log.info('stopped');
  }
}

function agentsLastError(stats: ReadonlyMap<string, { lastError: string | undefined }>): string {
  return [...stats.values()].map((s) => s.lastError).find((e) => e !== undefined) ?? 'none';
}
