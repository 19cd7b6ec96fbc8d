// The demo's workload: Fashion-MNIST t10k images through every gateway's local API, one request at a time per
// gateway at a steady pace, with one link cut partway through. Answers are scored against the labels as they come.
import { setTimeout as sleep } from 'node:timers/promises';
import type { DemoAgent } from './demo-agents.js';
import type { DemoImages, DemoModel } from './demo-model.js';
import { type AgentStats, createAgentStats, recordAnswer, recordError } from './demo-stats.js';

/** When the stream ends: after `images` requests in all, after `durationMs`, or never (until `stop`). */
export type StreamEnd = { images: number } | { durationMs: number } | 'never';

/** Options of {@link runImageStream}. */
export interface ImageStreamOptions {
  readonly agents: readonly DemoAgent[];
  readonly model: DemoModel;
  readonly data: DemoImages;
  readonly end: StreamEnd;
  /** Requests per second per gateway; 0 sends the next as soon as the previous is answered. */
  readonly ratePerAgent: number;
  /**
   * The cut: `choose` picks the gateway when the cut is due, from the answers so far (undefined: no cut); it
   * lasts `forMs` (0: no cut).
   */
  readonly cut: {
    readonly choose: (stats: ReadonlyMap<string, AgentStats>) => DemoAgent | undefined;
    readonly forMs: number;
  };
  /** Resolves when the run must stop early (a signal). */
  readonly stop: Promise<unknown>;
  /** Called about every `tickMs` with the progress so far. */
  readonly onTick: (progress: StreamProgress) => void;
  readonly tickMs: number;
  /** Called when the cut starts or ends. */
  readonly onCut: (event: 'cut' | 'restored', agent: DemoAgent) => void;
}

/** Where the stream stands. */
export interface StreamProgress {
  readonly done: number;
  /** Requests planned in all, or undefined for a timed or endless run. */
  readonly total: number | undefined;
  readonly elapsedMs: number;
  /** 0..1 of the run, or undefined when endless. */
  readonly fraction: number | undefined;
  readonly stats: ReadonlyMap<string, AgentStats>;
  readonly cutActive: boolean;
  /** The gateway whose link was cut, once the cut has started. */
  readonly cutAgent: string | undefined;
}

// An endless run cuts once, this long after the start.
const ENDLESS_CUT_AFTER_MS = 30_000;
// The cut starts at this share of a bounded run.
const CUT_AT_FRACTION = 0.4;

/** Streams until the end condition or `stop`; resolves with the final progress and why it ended. */
export async function runImageStream(
  options: ImageStreamOptions,
): Promise<{ progress: StreamProgress; reason: 'done' | 'stopped' }> {
  const { agents, data, end, model } = options;
  const stats = new Map(agents.map((a) => [a.spec.id, createAgentStats()] as const));
  const started = performance.now();
  let next = 0;
  let done = 0;
  let running = true;
  let stopped = false;
  const cut: { state: 'before' | 'active' | 'over'; agent: DemoAgent | undefined } = {
    state: options.cut.forMs > 0 ? 'before' : 'over',
    agent: undefined,
  };
  let cutAt = 0;

  const total = typeof end === 'object' && 'images' in end ? end.images : undefined;
  const durationMs = typeof end === 'object' && 'durationMs' in end ? end.durationMs : undefined;
  const elapsed = () => performance.now() - started;
  const fraction = (): number | undefined =>
    total !== undefined ? done / total : durationMs !== undefined ? Math.min(1, elapsed() / durationMs) : undefined;
  const progress = (): StreamProgress => ({
    done,
    total,
    elapsedMs: elapsed(),
    fraction: fraction(),
    stats,
    cutActive: cut.state === 'active',
    cutAgent: cut.agent?.spec.id,
  });

  const worker = async (agent: DemoAgent): Promise<void> => {
    const own = stats.get(agent.spec.id)!;
    const interval = options.ratePerAgent > 0 ? 1000 / options.ratePerAgent : 0;
    let due = performance.now();
    while (running) {
      if (total !== undefined && next >= total) break;
      const n = next++;
      const index = n % data.count;
      try {
        const input = await data.read(index);
        const t0 = performance.now();
        const result = await agent.client.infer(model.id, {
          input: { dims: [1, 1, model.height, model.width], data: input },
        });
        recordAnswer(own, result, data.labels[index]!, performance.now() - t0);
      } catch (error) {
        recordError(own, error);
      }
      done += 1;
      if (interval > 0) {
        // Catch up after a slow answer, but never by more than one request: no bursts.
        due = Math.max(due + interval, performance.now() - interval);
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
    }
  };

  const control = async (): Promise<void> => {
    while (running) {
      await Promise.race([sleep(Math.min(options.tickMs, 250)), options.stop]);
      if (stopped) return;
      const f = fraction();
      if (cut.state === 'before') {
        const due = f === undefined ? elapsed() >= ENDLESS_CUT_AFTER_MS : f >= CUT_AT_FRACTION;
        if (due) {
          cut.agent = options.cut.choose(stats);
          if (cut.agent === undefined) {
            cut.state = 'over';
          } else {
            await cut.agent.link.cut();
            cut.state = 'active';
            cutAt = elapsed();
            options.onCut('cut', cut.agent);
          }
        }
      } else if (cut.agent && cut.state === 'active' && elapsed() - cutAt >= options.cut.forMs) {
        await cut.agent.link.restore();
        cut.state = 'over';
        options.onCut('restored', cut.agent);
      }
      if (durationMs !== undefined && elapsed() >= durationMs) running = false;
    }
  };

  void options.stop.then(() => {
    stopped = true;
    running = false;
  });
  let lastTick = 0;
  const ticker = setInterval(
    () => {
      if (performance.now() - lastTick >= options.tickMs) {
        lastTick = performance.now();
        options.onTick(progress());
      }
    },
    Math.min(options.tickMs, 250),
  );
  try {
    const controller = control();
    await Promise.all(agents.map(worker));
    running = false;
    await controller;
  } finally {
    clearInterval(ticker);
    if (cut.state === 'active' && cut.agent) {
      await cut.agent.link.restore();
      options.onCut('restored', cut.agent);
    }
  }
  return { progress: progress(), reason: stopped ? 'stopped' : 'done' };
}
