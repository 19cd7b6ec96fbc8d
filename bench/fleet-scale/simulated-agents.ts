// A process of light simulated agents for bench/fleet-scale: each has its own NATS connection with its own JWT creds
// and inbox, writes a real heartbeat into KV (and on its live subject) every interval, and sends real tail requests
// (the example's cut tensors) at a Poisson rate. No onnxruntime, no HTTP API: what the fleet costs NATS, the
// replicas and the console is what is measured, not the agents themselves. Started by main.ts with a spec file;
// prints one JSON line of figures when its time is up (or on SIGTERM).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, openHeartbeatKv } from '@cleave/node-runtime';
import {
  decodeMessage,
  encodeMessage,
  encodeTensor,
  heartbeatSubject,
  PROTOCOL_VERSION,
  quantileOrNaN,
  seededRandom,
  tailSubject,
} from '@cleave/proto';
import { type SimulatedAgentState, type SimulatedModel, simulatedHeartbeat } from './simulated-heartbeat.js';

/** What main.ts hands a simulator process. */
export interface SimulatorSpec {
  readonly servers: readonly string[];
  readonly credsDir: string;
  readonly prefix: string;
  readonly agentIds: readonly string[];
  readonly heartbeatMs: number;
  /** Tail requests per second per agent. */
  readonly requestsPerSecond: number;
  readonly seconds: number;
  readonly model: SimulatedModel;
  /** The cut tensors every request carries (the example's head output for one image). */
  readonly cut: readonly { name: string; dims: number[]; data: number[] }[];
}

/** The figures a simulator process prints. */
export interface SimulatorFigures {
  readonly agents: number;
  readonly connected: number;
  readonly connectFailures: readonly string[];
  readonly heartbeats: { attempted: number; written: number; failed: number; putP50Ms: number; putP95Ms: number };
  readonly tails: {
    sent: number;
    answered: number;
    failed: number;
    errors: Record<string, number>;
    p50Ms: number;
    p95Ms: number;
  };
}

interface Agent {
  readonly state: SimulatedAgentState;
  readonly nc: NatsConnection;
  readonly kv: KV;
}

const spec = JSON.parse(await readFile(process.argv[2]!, 'utf8')) as SimulatorSpec;
const cut = spec.cut.map((t) => ({ ...t, data: Float32Array.from(t.data) }));
const subject = tailSubject({ prefix: spec.prefix, ...spec.model });
const putMs: number[] = [];
const tailMs: number[] = [];
const errors: Record<string, number> = {};
const counts = { attempted: 0, written: 0, failed: 0, sent: 0, answered: 0, tailFailed: 0 };
const connectFailures: string[] = [];
const timers: NodeJS.Timeout[] = [];
let stopping = false;

async function connectAgent(agentId: string, index: number): Promise<Agent | undefined> {
  try {
    const credsFile = join(spec.credsDir, `${agentId}.creds`);
    const nc = await connectNats(
      { servers: [...spec.servers], credsFile } as Parameters<typeof connectNats>[0],
      agentId,
    );
    const kv = await openHeartbeatKv(nc, spec.prefix);
    const state: SimulatedAgentState = {
      agentId,
      intervalMs: spec.heartbeatMs,
      model: spec.model,
      random: seededRandom(index + 1),
      beats: 0,
      requests: 0,
      offloads: 0,
      failures: 0,
      switches: [],
    };
    return { state, nc, kv };
  } catch (error) {
    connectFailures.push(`${agentId}: ${(error as Error).message}`);
    return undefined;
  }
}

async function beat(agent: Agent): Promise<void> {
  const bytes = encodeMessage(simulatedHeartbeat(agent.state));
  counts.attempted += 1;
  agent.nc.publish(heartbeatSubject(spec.prefix, agent.state.agentId), bytes);
  const started = performance.now();
  try {
    await agent.kv.put(agent.state.agentId, bytes);
    counts.written += 1;
    putMs.push(performance.now() - started);
  } catch {
    counts.failed += 1;
  }
}

async function offload(agent: Agent, n: number): Promise<void> {
  const id = `${agent.state.agentId}-${n}`;
  const payload = encodeMessage({
    kind: 'infer',
    v: PROTOCOL_VERSION,
    id,
    ...spec.model,
    tensors: cut.map((t) => encodeTensor(t.name, t.data, t.dims, 'f16')),
    sentAt: Date.now(),
  });
  agent.state.requests += 1;
  agent.state.offloads += 1;
  counts.sent += 1;
  const started = performance.now();
  try {
    const reply = decodeMessage((await agent.nc.request(subject, payload, { timeout: 2_000 })).data);
    if (reply.kind === 'infer_reply' && reply.id === id) {
      counts.answered += 1;
      tailMs.push(performance.now() - started);
      return;
    }
    const code = reply.kind === 'error' ? reply.code : reply.kind;
    errors[code] = (errors[code] ?? 0) + 1;
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as Error).name;
    errors[code] = (errors[code] ?? 0) + 1;
  }
  counts.tailFailed += 1;
  agent.state.failures += 1;
}

function schedule(agent: Agent): void {
  const random = agent.state.random;
  // Heartbeats at a random phase, so 1,000 agents do not all write in the same millisecond.
  timers.push(
    setTimeout(() => {
      void beat(agent);
      timers.push(setInterval(() => void beat(agent), spec.heartbeatMs));
    }, random() * spec.heartbeatMs),
  );
  if (spec.requestsPerSecond <= 0) return;
  let n = 0;
  const next = (): void => {
    if (stopping) return;
    // Exponential gaps: a Poisson stream of hard cases per agent.
    const gapMs = (-Math.log(1 - random()) / spec.requestsPerSecond) * 1000;
    timers.push(
      setTimeout(() => {
        void offload(agent, (n += 1));
        next();
      }, gapMs),
    );
  };
  next();
}

const agents: Agent[] = [];
// Connect in waves: a thousand TLS-less connects at once only measure the accept queue.
for (let i = 0; i < spec.agentIds.length; i += 25) {
  const wave = spec.agentIds.slice(i, i + 25).map((id, j) => connectAgent(id, i + j));
  for (const agent of await Promise.all(wave)) if (agent !== undefined) agents.push(agent);
}
for (const agent of agents) schedule(agent);

async function finish(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const t of timers) clearTimeout(t);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const figures: SimulatorFigures = {
    agents: spec.agentIds.length,
    connected: agents.length,
    connectFailures: connectFailures.slice(0, 5),
    heartbeats: {
      attempted: counts.attempted,
      written: counts.written,
      failed: counts.failed,
      putP50Ms: quantileOrNaN(putMs, 0.5),
      putP95Ms: quantileOrNaN(putMs, 0.95),
    },
    tails: {
      sent: counts.sent,
      answered: counts.answered,
      failed: counts.tailFailed,
      errors,
      p50Ms: quantileOrNaN(tailMs, 0.5),
      p95Ms: quantileOrNaN(tailMs, 0.95),
    },
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  await Promise.all(agents.map((a) => a.nc.close().catch(() => undefined)));
  process.exit(0);
}

process.once('SIGTERM', () => void finish());
process.stdout.write(`${JSON.stringify({ ready: agents.length })}\n`);
setTimeout(() => void finish(), spec.seconds * 1000);
