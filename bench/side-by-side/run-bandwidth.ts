/**
 * One bandwidth of one model: shape every link, warm every strategy up (unmeasured), then measure the strategies
 * interleaved in small chunks over the same images, so machine noise hits them all alike. Bytes are what the link
 * emulator of each strategy forwarded (both directions) while that strategy's measured chunks ran.
 */
import type { LinkEmulator } from '../../test/harness/link-emulator.js';
import { STRATEGIES, summariseCell, type CellSamples, type CellSummary, type Strategy } from './cell-stats.js';
import type { EdgeWorker } from './edge-worker-client.js';
import type { RequestAnswer } from './final-answers.js';
import type { NetworkStrategy } from './worker-protocol.js';

/** What to run at this bandwidth. */
export interface BandwidthPlan {
  readonly model: string;
  readonly mbps: number;
  readonly rttMs: number;
  /** Measured requests per strategy (already cut for slow cells). */
  readonly requests: Readonly<Record<Strategy, number>>;
  readonly warmup: number;
  /** First t10k image of this bandwidth's measured requests; warm-up uses other images. */
  readonly offset: number;
  readonly chunk: number;
  readonly staticSplit: string;
}

/** Everything measured at one bandwidth. */
export interface BandwidthResult {
  readonly cells: Partial<Record<Strategy, CellSummary>>;
  readonly samples: Partial<Record<Strategy, CellSamples>>;
  readonly answeredBy: Partial<Record<Strategy, Record<string, number>>>;
  /** Every final output of every measured request, in request order (the same images for every strategy). */
  readonly answers: Partial<Record<Strategy, RequestAnswer[]>>;
  /**
   * The agent's bandwidth and RTT estimates after warm-up and at the end, the link probes it sent in between, and
   * of those the ones sent while its requests were timed.
   */
  readonly agentEstimate: {
    readonly before: string;
    readonly after: string;
    readonly probes: number;
    readonly timedProbes: number;
  };
}

/** Longer than the agent's default `link.maxAgeMs` (3 s). */
const SETTLE_MS = 4000;

const linkOf = (s: Strategy): NetworkStrategy | null => (s === 'edge-only' ? null : s);

/** Runs one bandwidth; `onProgress` gets the number of measured requests just done. */
export async function runBandwidth(
  plan: BandwidthPlan,
  workers: Readonly<Record<Strategy, EdgeWorker>>,
  links: Readonly<Record<NetworkStrategy, LinkEmulator>>,
  onProgress: (done: number) => void,
): Promise<BandwidthResult> {
  for (const link of Object.values(links)) link.shape({ rateMbps: plan.mbps, delayMs: plan.rttMs / 2 });
  const split = plan.staticSplit;
  // Warm-up: sessions, NATS connections and the agent's bandwidth estimate. Its samples age out after 3 s (the
  // default link.maxAgeMs), so after this wait its probes have measured only the new rate.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  for (const strategy of STRATEGIES) {
    // A cell cut for time gets a shorter warm-up too (at least one request).
    const n = Math.min(plan.warmup, Math.max(1, Math.floor(plan.requests[strategy] / 3)));
    await workers[strategy].run({ model: plan.model, strategy, offset: plan.offset + 5000, n, split });
  }
  for (const strategy of STRATEGIES) {
    await workers[strategy].load({ model: plan.model, offset: plan.offset, n: plan.requests[strategy] });
  }
  const estimate = async (): Promise<{ text: string; probes: number }> => {
    const s = await workers.cleave.status();
    const text = `${s.mbps === null ? '?' : s.mbps.toPrecision(3)} Mbps, RTT ${s.rttMs === null ? '?' : s.rttMs.toFixed(1)} ms`;
    return { text, probes: s.probes };
  };
  const before = await estimate();

  const done: Record<Strategy, number> = {
    'edge-only': 0,
    'cloud-raw': 0,
    'cloud-png': 0,
    'static-split': 0,
    cleave: 0,
  };
  const acc = Object.fromEntries(
    STRATEGIES.map((s) => [
      s,
      {
        latencyMs: [] as number[],
        edgeComputeMs: [] as number[],
        correct: [] as boolean[],
        answers: [] as RequestAnswer[],
        wireBytes: 0,
        cpuMs: 0,
        probes: 0,
        by: {},
      },
    ]),
  ) as Record<
    Strategy,
    {
      latencyMs: number[];
      edgeComputeMs: number[];
      correct: boolean[];
      answers: RequestAnswer[];
      wireBytes: number;
      cpuMs: number;
      probes: number;
      by: Record<string, number>;
    }
  >;
  let round = 0;
  while (STRATEGIES.some((s) => done[s] < plan.requests[s])) {
    // Rotate the order every round so no strategy always runs right after another.
    const order = STRATEGIES.map((_, i) => STRATEGIES[(i + round) % STRATEGIES.length]!);
    round += 1;
    for (const s of order) {
      const n = Math.min(plan.chunk, plan.requests[s] - done[s]);
      if (n <= 0) continue;
      const link = linkOf(s) === null ? undefined : links[linkOf(s)!];
      const bytesBefore = link ? link.stats.upBytes + link.stats.downBytes : 0;
      const r = await workers[s].run({ model: plan.model, strategy: s, offset: plan.offset + done[s], n, split });
      const a = acc[s];
      a.wireBytes += link ? link.stats.upBytes + link.stats.downBytes - bytesBefore : 0;
      a.cpuMs += r.cpuMs;
      a.probes += r.probes;
      a.latencyMs.push(...r.latencyMs);
      a.edgeComputeMs.push(...r.edgeComputeMs);
      a.correct.push(...r.correct);
      a.answers.push(...r.answers);
      for (const [k, v] of Object.entries(r.answeredBy)) a.by[k] = (a.by[k] ?? 0) + v;
      done[s] += n;
      onProgress(n);
    }
  }
  const after = await estimate();
  const cells: Partial<Record<Strategy, CellSummary>> = {};
  const samples: Partial<Record<Strategy, CellSamples>> = {};
  const answeredBy: Partial<Record<Strategy, Record<string, number>>> = {};
  const answers: Partial<Record<Strategy, RequestAnswer[]>> = {};
  for (const s of STRATEGIES) {
    const a = acc[s];
    const sample: CellSamples = {
      latencyMs: a.latencyMs,
      edgeComputeMs: a.edgeComputeMs,
      correct: a.correct.length > 0 ? a.correct : null,
      wireBytes: a.wireBytes,
      edgeCpuMs: a.cpuMs,
    };
    samples[s] = sample;
    cells[s] = summariseCell(sample, plan.mbps);
    answeredBy[s] = a.by;
    answers[s] = a.answers;
  }
  return {
    cells,
    samples,
    answeredBy,
    answers,
    agentEstimate: {
      before: before.text,
      after: after.text,
      probes: after.probes - before.probes,
      timedProbes: acc.cleave.probes,
    },
  };
}
