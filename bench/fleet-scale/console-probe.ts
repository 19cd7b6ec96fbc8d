// What an operator sees of a big fleet: the fleet API's latency and size, how many agents it lists and flags stale,
// the live stream's bytes per second, and how long the fleet page takes in Chromium to show its first page (100
// agents, with the whole fleet counted above the table).
import { setTimeout as sleep } from 'node:timers/promises';
import { quantileOrNaN } from '@cleave/proto';
import { launchChromium } from '../../test/harness/browser.js';

/** Options of {@link measureConsole}. */
export interface ConsoleProbeOptions {
  readonly url: string;
  readonly token: string;
  readonly seconds: number;
  readonly expectedAgents: number;
}

/** The console's figures over the window. */
export interface ConsoleFigures {
  readonly fleetRequests: number;
  readonly fleetP50Ms: number;
  readonly fleetP95Ms: number;
  /** p95 of the console's own time per answer (its Server-Timing header): the rest is network and waiting for CPU. */
  readonly fleetServerP95Ms: number;
  /** Bytes of the last fleet answer (one page of 100 agents and the fleet's summary). */
  readonly fleetBytes: number;
  /** Fewest agents a fleet answer counted (all should be there all the time). */
  readonly minAgentsListed: number;
  /** Most agents one fleet answer flagged stale (none should be). */
  readonly maxStale: number;
  readonly streamBytesPerSecond: number;
  readonly streamEvents: number;
  /** Time from opening the page (logged in) to a full first page that counts every agent, in ms. */
  readonly pageLoadMs: number;
  readonly pageRows: number;
}

/** Polls the fleet API every 2 s and reads the live stream for `seconds`, then loads the page once. */
export async function measureConsole(options: ConsoleProbeOptions): Promise<ConsoleFigures> {
  const auth = { authorization: `Bearer ${options.token}` };
  const stream = readStream(`${options.url}/api/events`, auth);
  const fleetMs: number[] = [];
  const serverMs: number[] = [];
  let fleetBytes = 0;
  let minAgentsListed = Number.POSITIVE_INFINITY;
  let maxStale = 0;
  const until = performance.now() + options.seconds * 1000;
  while (performance.now() < until) {
    const started = performance.now();
    const response = await fetch(`${options.url}/api/fleet`, { headers: auth });
    const text = await response.text();
    fleetMs.push(performance.now() - started);
    serverMs.push(Number(/dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '')?.[1] ?? Number.NaN));
    if (!response.ok) throw new Error(`GET /api/fleet: ${response.status} ${text.slice(0, 200)}`);
    fleetBytes = text.length;
    // The summary counts the whole fleet; the page holds only the first 100.
    const { summary } = JSON.parse(text) as { summary: { agents: number; stale: number } };
    minAgentsListed = Math.min(minAgentsListed, summary.agents);
    maxStale = Math.max(maxStale, summary.stale);
    await sleep(2000);
  }
  const streamed = await stream.stop();
  const page = await pageLoad(options);
  return {
    fleetRequests: fleetMs.length,
    fleetP50Ms: quantileOrNaN(fleetMs, 0.5),
    fleetP95Ms: quantileOrNaN(fleetMs, 0.95),
    fleetServerP95Ms: quantileOrNaN(serverMs, 0.95),
    fleetBytes,
    minAgentsListed,
    maxStale,
    streamBytesPerSecond: streamed.bytes / streamed.seconds,
    streamEvents: streamed.events,
    pageLoadMs: page.ms,
    pageRows: page.rows,
  };
}

function readStream(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  let bytes = 0;
  let events = 0;
  const started = performance.now();
  const reading = (async () => {
    const response = await fetch(url, { headers, signal: abort.signal });
    if (!response.ok || response.body === null) throw new Error(`GET /api/events: ${response.status}`);
    const decoder = new TextDecoder();
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      events += (decoder.decode(chunk, { stream: true }).match(/^event:/gm) ?? []).length;
    }
  })().catch((error: unknown) => {
    if ((error as Error).name !== 'AbortError') throw error;
  });
  return {
    async stop() {
      const seconds = (performance.now() - started) / 1000;
      abort.abort();
      await reading;
      return { bytes, events, seconds };
    },
  };
}

async function pageLoad(options: ConsoleProbeOptions): Promise<{ ms: number; rows: number }> {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${options.url}/login`);
    await page.fill('input[name="name"]', 'fleet-scale');
    await page.fill('input[name="token"]', options.token);
    await page.click('button[type="submit"]');
    await page.waitForSelector('#fleet-table');
    // Measured from a fresh navigation with the session: what an operator waits for on opening the console.
    const started = performance.now();
    await page.goto(options.url);
    // Polled with locator counts, not waitForFunction: the console's CSP refuses the eval that one uses.
    const deadline = Date.now() + 60_000;
    const pageRows = Math.min(options.expectedAgents, 100);
    const counted = async () =>
      (await page.locator('#fleet-range').getAttribute('data-total')) === String(options.expectedAgents);
    while ((await page.locator('#fleet-table tbody tr').count()) < pageRows || !(await counted())) {
      if (Date.now() > deadline) break;
      await sleep(50);
    }
    const ms = performance.now() - started;
    const rows = await page.locator('#fleet-table tbody tr').count();
    return { ms, rows };
  } finally {
    await browser.close();
  }
}
