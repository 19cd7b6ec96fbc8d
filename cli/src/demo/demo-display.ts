// The live view: on a terminal, a progress bar and the summary table redrawn in place on stderr about once a
// second; otherwise one JSON log line with the same numbers every few seconds, so CI logs stay readable.
import type { CleaveLogger } from '@cleave/node-runtime/command-line';
import type { DemoAgent } from './demo-agents.js';
import { formatSummaryTable, summaryRow, type SummaryRow } from './demo-stats.js';
import type { StreamProgress } from './demo-stream.js';

/** Describes a gateway's link and power for the table. */
export function agentColumns(agent: DemoAgent): { link: string; power: string } {
  const { rateMbps, delayMs } = agent.spec.link;
  const power = agent.spec.batteryPercent === undefined ? 'mains' : `battery ${agent.spec.batteryPercent}%`;
  return { link: `${rateMbps} Mbps ${delayMs} ms`, power };
}

/** Summary rows for every gateway. */
export function summaryRows(agents: readonly DemoAgent[], progress: StreamProgress): SummaryRow[] {
  return agents.map((a) => {
    const { link, power } = agentColumns(a);
    const stats = progress.stats.get(a.spec.id)!;
    return summaryRow(a.spec.id, a.link.isCut ? `${link} CUT` : link, power, stats);
  });
}

function bar(fraction: number, width = 30): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'='.repeat(filled)}${' '.repeat(width - filled)}]`;
}

function progressLine(p: StreamProgress): string {
  const seconds = (p.elapsedMs / 1000).toFixed(0);
  const rate = p.elapsedMs > 0 ? ((p.done * 1000) / p.elapsedMs).toFixed(0) : '0';
  if (p.fraction === undefined) return `streaming t10k  ${p.done} images  ${seconds} s  ${rate} img/s  (Ctrl-C stops)`;
  const count = p.total === undefined ? `${p.done} images` : `${p.done}/${p.total}`;
  return `streaming t10k ${bar(p.fraction)} ${(p.fraction * 100).toFixed(0)}% | ${count} | ${seconds} s | ${rate} img/s`;
}

/** The live view of a run. */
export interface LiveDisplay {
  update(progress: StreamProgress): void;
  /** Notes an event (cut, restore) above the live block. */
  note(text: string): void;
  /** Clears the live block. */
  stop(): void;
}

/** Creates the view: redrawn on a terminal, JSON lines every `logEveryMs` otherwise. */
export function createLiveDisplay(options: {
  agents: readonly DemoAgent[];
  interactive: boolean;
  log: CleaveLogger;
  logEveryMs: number;
  write?: (text: string) => void;
}): LiveDisplay {
  const write = options.write ?? ((text: string) => void process.stderr.write(text));
  let drawnLines = 0;
  let lastLog = 0;
  const clear = () => {
    // Up to the block's first line, then erase to the end of the screen.
    if (drawnLines > 0) write(`\x1b[${drawnLines}F\x1b[J`);
    drawnLines = 0;
  };
  return {
    update(progress) {
      const rows = summaryRows(options.agents, progress);
      if (options.interactive) {
        const block = `${progressLine(progress)}${progress.cutActive ? '  (a link is cut)' : ''}\n\n${formatSummaryTable(rows)}`;
        clear();
        write(block);
        drawnLines = block.split('\n').length - 1;
        return;
      }
      if (progress.elapsedMs - lastLog < options.logEveryMs) return;
      lastLog = progress.elapsedMs;
      options.log.info(
        {
          done: progress.done,
          total: progress.total ?? null,
          elapsedS: Math.round(progress.elapsedMs / 1000),
          agents: rows.map((r) => ({
            agent: r.agent,
            split: r.split,
            requests: r.requests,
            exitRate: Number(r.exitRate.toFixed(3)),
            offloads: r.offloads,
            fallbacks: r.fallbacks,
            errors: r.errors,
            p50Ms: Number.isNaN(r.p50Ms) ? null : Number(r.p50Ms.toFixed(1)),
            p95Ms: Number.isNaN(r.p95Ms) ? null : Number(r.p95Ms.toFixed(1)),
            accuracy: Number(r.accuracy.toFixed(4)),
          })),
        },
        'demo progress',
      );
    },
    note(text) {
      if (options.interactive) {
        clear();
        write(`${text}\n`);
      }
    },
    stop() {
      if (options.interactive) clear();
    },
  };
}
