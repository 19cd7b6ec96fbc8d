// Code that runs inside the page is passed as strings: the test program has no DOM types, and
// adding the DOM lib would change global types (ReadableStream) for the whole lint program.
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EXAMPLE_MODEL_WITH_EXITS, REPO_ROOT, startEmbeddedNats, type EmbeddedNats } from '@cleave/cli';
import { openHeartbeatKv, publishBundle } from '@cleave/node-runtime';
import { encodeMessage, type Heartbeat, PROTOCOL_VERSION } from '@cleave/proto';
import { loadMnistSplit, partitionModel } from '@cleave/partitioner';
import { EdgeClient } from '@cleave/edge-agent';
import {
  fashionSamples,
  launchChromium,
  watchCsp,
  startCloudProcess,
  startConsoleProcess,
  startEdgeProcess,
  testPublisher,
  type CloudProcess,
  type ConsoleProcess,
  type EdgeProcess,
  waitFor,
} from '../harness/mod.js';

const TOKEN = 'browser-test-token-0123456789';
/** Screenshots are kept as test artifacts. */
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts', 'console');

let nats: EmbeddedNats;
let nc: NatsConnection;
let cloud: CloudProcess;
let consoleProc: ConsoleProcess;
let browser: Browser;
let version: string;
let agents: EdgeProcess[] = [];
/** Content-Security-Policy violations reported by every page the tests open. */
const cspViolations: string[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  nats = await startEmbeddedNats();
  nc = await connect({ servers: nats.url });
  const work = await mkdtemp(join(tmpdir(), 'cleave-browser-'));
  const out = join(work, 'bundle');
  const result = await partitionModel({
    modelPath: EXAMPLE_MODEL_WITH_EXITS,
    outDir: out,
    modelId: 'fmnist',
    profile: { runs: 3, nodeBreakdown: false },
    calibration: { data: await loadMnistSplit('train'), source: 'train', holdoutSamples: 2000 },
  });
  version = result.version;
  await publishBundle(nc, out, { signingKey: testPublisher().seed });
  cloud = await startCloudProcess(['--nats-url', nats.url, '--http-port', '0', '--replica', 'cloud-main']);
  consoleProc = await startConsoleProcess(nats.url, 'cleave', TOKEN, undefined, [
    '--trusted-publishers',
    `test-publisher=${testPublisher().publicKey}`,
  ]);
  agents = await Promise.all(
    ['gw-a', 'gw-b'].map((agentId) =>
      startEdgeProcess({ agentId, natsUrl: nats.url, prefix: 'cleave', workDir: work, heartbeatIntervalMs: 500 }),
    ),
  );
  for (const agent of agents) {
    const client = new EdgeClient({ url: agent.httpUrl });
    await waitFor(() => client.ready(), `${agent.agentId} ready`, 30_000, 100);
  }
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await consoleProc?.stop();
  await Promise.all(agents.map((a) => a.stop()));
  cloud?.child.kill('SIGTERM');
  await cloud?.exited;
  await nc?.close();
  await nats?.stop();
});

/**
 * Waits until `expression` is true in the page. Not page.waitForFunction: its string predicates are evaluated
 * with eval inside the page, which the console's CSP (no 'unsafe-eval') refuses; page.evaluate goes through the
 * debugger protocol, which no CSP applies to.
 */
async function untilTrue(page: Page, expression: string, timeout = 5000): Promise<void> {
  await expect.poll(() => page.evaluate<boolean>(`Boolean(${expression})`), { timeout }).toBe(true);
}

async function loggedInPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  await watchCsp(page, cspViolations);
  await page.goto(consoleProc.url);
  await page.waitForURL(/\/login$/);
  await page.fill('input[name="name"]', 'browser-test');
  await page.fill('input[name="token"]', TOKEN);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#fleet-table');
  return page;
}

describe('operator console in headless Chromium', () => {
  it('rejects a wrong token, then logs in and shows the cloud replica', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await watchCsp(page, cspViolations);
    await page.goto(`${consoleProc.url}/login`);
    await page.fill('input[name="token"]', 'wrong-token-wrong-token');
    await page.click('button[type="submit"]');
    await page.waitForSelector('.error');
    expect(await page.locator('.error').textContent()).toBe('Wrong token.');
    await page.close();

    const overview = await loggedInPage(1280, 800);
    await untilTrue(overview, "document.querySelectorAll('#cloud-table tbody tr').length >= 1", 15_000);
    // Replicas by the name they were started with, not their NATS service id.
    expect(await overview.locator('#cloud-table tbody tr').first().getAttribute('data-replica')).toBe('cloud-main');
    expect(await overview.locator('#cloud-table tbody tr td').first().textContent()).toBe('cloud-main');
    expect(await overview.locator('#cloud-table tbody tr').first().textContent()).toContain('0.1.0');
    await overview.screenshot({ path: join(ARTIFACTS, 'overview-1280x800.png'), fullPage: true });
    await overview.close();
  });

  it('shows both edge agents with their splits, and an agent policy reaches that agent only', async () => {
    // Real Fashion-MNIST traffic through both agents while the page watches, as on a live gateway.
    const { images } = await fashionSamples(50);
    let traffic = true;
    const streams = agents.map(async (agent) => {
      const client = new EdgeClient({ url: agent.httpUrl });
      for (let i = 0; traffic; i = (i + 1) % images.length) {
        await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: images[i]! } });
        await sleep(20);
      }
    });
    try {
      await watchFleetAndSetAgentPolicy();
    } finally {
      traffic = false;
      await Promise.all(streams);
    }
  });

  async function watchFleetAndSetAgentPolicy(): Promise<void> {
    const page = await loggedInPage(1280, 800);
    const row = (agentId: string) => page.locator(`#fleet-table tbody tr[data-agent="${agentId}"]`);
    const exitCell = async (agentId: string) => (await row(agentId).locator('td.exit').textContent()) ?? '';
    for (const agentId of ['gw-a', 'gw-b']) {
      await expect.poll(async () => row(agentId).count(), { timeout: 15_000 }).toBe(1);
      expect(await row(agentId).locator('td.split').textContent()).toMatch(/^(split-\d+|edge-only|cloud-only)/);
      await expect.poll(() => exitCell(agentId), { timeout: 10_000 }).toMatch(/^\d+\.\d% \(budget .* latency\)/);
      expect(await row(agentId).locator('td').nth(8).textContent()).toMatch(/^\d+\.\d \/ \d+\.\d$/);
    }
    const budgetOf = (cell: string) => Number(/budget ([\d.]+) pt/.exec(cell)?.[1]);
    const before = budgetOf(await exitCell('gw-b'));
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-two-agents-1280x800.png'), fullPage: true });

    // On the energy objective the agent moves to the most lenient exit point its floor allows.
    await page.selectOption('#policy-scope', 'agent:gw-b');
    await page.selectOption('select[name="objective"]', 'energy');
    await page.click('#policy-form button[type="submit"]');
    await expect.poll(async () => page.locator('#policy-result').textContent(), { timeout: 5000 }).toBe('Saved.');
    await expect.poll(() => exitCell('gw-b'), { timeout: 15_000 }).toContain('energy');
    expect(budgetOf(await exitCell('gw-b'))).toBeGreaterThan(before);
    expect(await exitCell('gw-a')).toContain('latency');
    await page.screenshot({ path: join(ARTIFACTS, 'fleet-agent-policy-1280x800.png'), fullPage: true });

    // Back to the fleet's policy, so later tests start from the same place.
    await page.selectOption('select[name="objective"]', '');
    await page.click('#policy-form button[type="submit"]');
    await expect.poll(() => exitCell('gw-b'), { timeout: 15_000 }).toContain('latency');
    await page.close();
  }

  it('opens a bundle split chart and moves the optimum by changing the bandwidth', async () => {
    const page = await loggedInPage(1280, 800);
    await page.click(`button[data-open="fmnist/${version}"]`);
    await untilTrue(page, "document.querySelector('#split-best')?.dataset.best !== undefined");
    const setBandwidth = async (log10: number): Promise<string> => {
      await page.evaluate(
        `(() => { const i = document.querySelector('#bandwidth'); i.value = '${log10}'; i.dispatchEvent(new Event('input')); })()`,
      );
      await untilTrue(
        page,
        `(document.querySelector('#bandwidth-value')?.textContent ?? '').startsWith('${(10 ** log10).toFixed(2)}')`,
      );
      await page.waitForTimeout(300);
      return (await page.locator('#split-best').getAttribute('data-best')) ?? '';
    };
    const slow = await setBandwidth(-1);
    const fast = await setBandwidth(3);
    expect(slow).not.toBe('');
    expect(fast).not.toBe('');
    // The chart is drawn by Chart.js on a canvas with one bar group per candidate.
    const bars = await page.evaluate<number>(
      "Chart.getChart(document.querySelector('#split-chart')).data.labels.length",
    );
    expect(bars).toBeGreaterThan(1);
    // The model view reads the task: one final output, the exit curve against labels, reply sizes of the choice.
    expect(await page.locator('#bundle-task').getAttribute('data-task')).toBe('classification');
    expect(await page.locator('#bundle-finals tbody tr').count()).toBe(1);
    expect(await page.locator('#bundle-finals tbody tr td').nth(3).textContent()).toBe('primary');
    expect(await page.locator('#exit-note').isHidden()).toBe(true);
    // Who signed the version, checked as the agents check it.
    expect(await page.locator('#bundle-signer').textContent()).toBe('signed by test-publisher (trusted, verified)');
    await expect
      .poll(() => page.locator(`.signer[data-version="fmnist/${version}"]`).getAttribute('data-integrity'))
      .toBe('verified');
    expect(
      await page.evaluate<string>("Chart.getChart(document.querySelector('#exit-chart')).options.scales.y.title.text"),
    ).toBe('accuracy %');
    const best = (await page.locator('#split-best').textContent()) ?? '';
    expect(best).toMatch(/reply \d|nothing crosses the network/);
    await page.screenshot({ path: join(ARTIFACTS, 'split-chart-1280x800.png'), fullPage: true });
    await page.close();
  });

  it('reads the split chart at a typed bandwidth and RTT, in joules for energy, with cut positions and the agents on each', async () => {
    const page = await loggedInPage(1280, 800);
    await page.click(`button[data-open="fmnist/${version}"]`);
    await untilTrue(page, "document.querySelector('#split-cuts tbody tr') !== null");
    const chart = (expr: string) =>
      page.evaluate<unknown>(
        `(() => { const c = Chart.getChart(document.querySelector('#split-chart')); return ${expr}; })()`,
      );
    const setField = (sel: string, value: string) =>
      page.evaluate(
        `(() => { const i = document.querySelector('${sel}'); i.value = '${value}'; i.dispatchEvent(new Event('change')); })()`,
      );
    // A typed bandwidth reaches values the slider cannot (5.85 Mbps, the 4G link of the main job).
    await setField('#bandwidth-mbps', '5.85');
    await untilTrue(page, "document.querySelector('#bandwidth-value').textContent === '5.85 Mbps'");
    expect(await chart('c.options.scales.y.type')).toBe('logarithmic');
    expect(await chart("c.config.plugins.some((p) => p.id === 'datalabels')")).toBe(true);
    // The RTT input: every bar that crosses the network pays the new RTT.
    const rttOf = () =>
      chart(
        "Object.fromEntries(c.data.labels.map((l, i) => [l.split(' ')[0], c.data.datasets[1].data[i]]))",
      ) as Promise<Record<string, number>>;
    const plannedRtt = Number(await page.locator('#rtt-ms').inputValue());
    const before = await rttOf();
    await setField('#rtt-ms', String(plannedRtt + 400));
    await expect
      .poll(
        async () => {
          const after = await rttOf();
          return Math.max(...Object.keys(before).map((k) => (after[k] ?? 0) - before[k]!));
        },
        { timeout: 5000 },
      )
      .toBeCloseTo(400, 0);
    // Under the energy objective the bars are the edge's millijoules.
    await page.selectOption('#objective', 'energy');
    await expect.poll(() => chart('c.options.scales.y.title.text'), { timeout: 5000 }).toBe('mJ (log scale)');
    expect(await chart('c.data.datasets.length')).toBe(1);
    // The cut table: one row per bar, where each cuts, and which agents run it now.
    const rows = await page.evaluate<{ candidate: string; position: string; agents: number }[]>(
      "[...document.querySelectorAll('#split-cuts tbody tr')].map((r) => ({ candidate: r.dataset.candidate, position: r.children[1].textContent, agents: Number(r.dataset.agents) }))",
    );
    console.log(`split cuts at 5.85 Mbps (energy): ${JSON.stringify(rows)}`);
    expect(rows.length).toBe(await chart('c.data.labels.length'));
    expect(rows.some((r) => /% of the edge compute$/.test(r.position))).toBe(true);
    expect(rows.reduce((n, r) => n + r.agents, 0)).toBeGreaterThanOrEqual(1);
    // The exit curve: zoomed to its data, every budget labelled, and both agents at the point they run now.
    const exit = (expr: string) =>
      page.evaluate<unknown>(
        `(() => { const c = Chart.getChart(document.querySelector('#exit-chart')); return ${expr}; })()`,
      );
    expect(Number(await exit('c.options.scales.x.max')) - Number(await exit('c.options.scales.x.min'))).toBeLessThan(
      100,
    );
    expect(await exit('c.options.plugins.annotation.annotations.floor.type')).toBe('line');
    await expect
      .poll(() => exit('c.data.datasets[2].data.map((p) => p.agent.split(" ")[0]).sort().join()'), { timeout: 10_000 })
      .toBe('gw-a,gw-b');
    await page.screenshot({ path: join(ARTIFACTS, 'split-chart-energy-1280x800.png'), fullPage: true });
    await page.close();
  });

  it('saves a fleet policy and shows field errors for a bad one, with the change in the audit log', async () => {
    const page = await loggedInPage(1280, 800);
    await page.selectOption('select[name="objective"]', 'energy');
    await page.fill('input[name="budgetPoints"]', '2');
    await page.click('#policy-form button[type="submit"]');
    await expect.poll(async () => page.locator('#policy-result').textContent(), { timeout: 5000 }).toBe('Saved.');
    await expect
      .poll(async () => page.locator('#audit-list li').first().textContent(), { timeout: 5000 })
      .toContain('browser-test set-policy fleet');
    await page.fill('input[name="floorAccuracy"]', '3');
    await page.evaluate(`document.querySelector('input[name="floorAccuracy"]').removeAttribute('max')`);
    await page.click('#policy-form button[type="submit"]');
    await expect
      .poll(async () => page.locator('#policy-result').textContent(), { timeout: 5000 })
      .toContain('floorAccuracy');
    await page.close();
  });

  it('loads the stored policy of a scope, pins a split from the suggestions, and clears the policy', async () => {
    const page = await loggedInPage(1280, 800);
    const splitCell = () => page.locator('#fleet-table tbody tr[data-agent="gw-a"] td.split').textContent();
    await expect.poll(splitCell, { timeout: 15_000 }).toMatch(/\S/);
    const suggestions = await page.evaluate<string[]>(
      "[...document.querySelectorAll('#policy-splits option')].map((o) => o.value)",
    );
    const running = ((await splitCell()) ?? '').split(' ')[0];
    const pin = suggestions.find((id) => id.startsWith('split-') && id !== running) ?? 'cloud-only';
    await page.selectOption('#policy-scope', 'agent:gw-a');
    await page.fill('input[name="split"]', pin);
    await page.click('#policy-form button[type="submit"]');
    await expect.poll(() => page.locator('#policy-result').textContent(), { timeout: 5000 }).toBe('Saved.');
    await expect.poll(splitCell, { timeout: 15_000 }).toMatch(new RegExp(`^${pin}`));
    // Another scope, then back: the form shows what is stored for each, and the agent's inherited fleet values.
    await page.selectOption('#policy-scope', 'fleet');
    expect(await page.locator('input[name="split"]').inputValue()).toBe('');
    await page.selectOption('#policy-scope', 'agent:gw-a');
    expect(await page.locator('input[name="split"]').inputValue()).toBe(pin);
    expect(await page.locator('#policy-effective').textContent()).toMatch(/^gw-a runs now: fmnist@/);
    // Clear: the document is gone and the agent follows the plan again.
    await page.click('#policy-clear');
    await expect
      .poll(() => page.locator('#policy-result').textContent(), { timeout: 5000 })
      .toBe('Cleared: the agent follows the fleet policy.');
    const stored = (await (
      await fetch(`${consoleProc.url}/api/policies`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { agents: Record<string, unknown> };
    expect(stored.agents['gw-a']).toBeUndefined();
    expect(await page.locator('input[name="split"]').inputValue()).toBe('');
    await expect
      .poll(() => page.locator('#audit-list li').first().textContent(), { timeout: 5000 })
      .toContain('browser-test clear-policy agent gw-a');
    await expect.poll(splitCell, { timeout: 15_000 }).not.toMatch(new RegExp(`^${pin}`));
    await page.close();
  });

  it('flags a heartbeat written by one agent that names another, and shows that agent once', async () => {
    // As a misconfigured or compromised gateway would: its own key, another agent's id in the body.
    const kv = await openHeartbeatKv(nc, 'cleave');
    const forged: Heartbeat = {
      kind: 'heartbeat',
      v: PROTOCOL_VERSION,
      agentId: 'gw-a',
      sentAt: Date.now(),
      intervalMs: 60_000,
      models: [],
    };
    await kv.put('gw-rogue', encodeMessage(forged));
    try {
      const page = await loggedInPage(1280, 800);
      const rogue = page.locator('#fleet-table tbody tr[data-agent="gw-rogue"]');
      await expect.poll(async () => rogue.count(), { timeout: 15_000 }).toBe(1);
      expect(await rogue.getAttribute('class')).toContain('spoofed');
      expect(await rogue.locator('td.identity-warning').textContent()).toBe('gw-rogue ⚠ claims to be gw-a');
      expect(await page.locator('#fleet-table tbody tr[data-agent="gw-a"]').count()).toBe(1);
      await page.screenshot({ path: join(ARTIFACTS, 'fleet-spoofed-heartbeat-1280x800.png'), fullPage: true });
      await page.close();
    } finally {
      await kv.delete('gw-rogue');
    }
  });

  it('pages a big fleet on the server: 100 rows, prev/next, a filter, live changes of the page', async () => {
    // 150 more agents, sorted after gw-a and gw-b, so the page shows gw-a, gw-b and the first 98 of them.
    const kv = await openHeartbeatKv(nc, 'cleave');
    const ids = Array.from({ length: 150 }, (_, i) => `sim-${String(i).padStart(3, '0')}`);
    const write = (id: string, rttMs: number) =>
      kv.put(
        id,
        encodeMessage({
          kind: 'heartbeat',
          v: PROTOCOL_VERSION,
          agentId: id,
          sentAt: Date.now(),
          intervalMs: 60_000,
          models: [],
          rttMs,
        }),
      );
    await Promise.all(ids.map((id) => write(id, 5)));
    try {
      const page = await loggedInPage(1280, 800);
      const rows = page.locator('#fleet-table tbody tr');
      await expect
        .poll(async () => page.locator('#fleet-range').textContent(), { timeout: 15_000 })
        .toBe('1–100 of 152');
      expect(await rows.count()).toBe(100);
      expect(await page.locator('#fleet-summary').textContent()).toMatch(/^152 agents · 0 stale · 0 spoofed/);
      await page.click('#fleet-next');
      await expect.poll(async () => page.locator('#fleet-range').textContent()).toBe('101–152 of 152');
      expect(await rows.count()).toBe(52);
      expect(await rows.first().getAttribute('data-agent')).toBe('sim-098');
      // A heartbeat of an agent on the page arrives as a change, without a reload.
      await write('sim-149', 77.5);
      await expect
        .poll(async () => page.locator('#fleet-table tbody tr[data-agent="sim-149"] td').nth(5).textContent(), {
          timeout: 10_000,
        })
        .toBe('77.5');
      await page.fill('#fleet-filter', 'sim-14');
      await expect.poll(async () => page.locator('#fleet-range').textContent()).toBe('1–10 of 10');
      await page.screenshot({ path: join(ARTIFACTS, 'fleet-paged-1280x800.png'), fullPage: true });
      await page.close();
    } finally {
      await Promise.all(ids.map((id) => kv.delete(id)));
    }
  });

  it('logs out with the button: lands on the login page, and the old cookie is refused', async () => {
    const page = await loggedInPage(1280, 800);
    const [session] = (await page.context().cookies()).filter((c) => c.name === 'cleave_session');
    expect(session).toBeDefined();
    await page.click('form.who button');
    await page.waitForURL(/\/login$/);
    await page.waitForSelector('input[name="token"]');
    // The login page is styled: its stylesheet loads without a session.
    expect(await page.evaluate<string>("getComputedStyle(document.querySelector('body.login main')).maxWidth")).toBe(
      '360px',
    );
    await page.goto(consoleProc.url);
    await page.waitForURL(/\/login$/);
    const replayed = await fetch(`${consoleProc.url}/api/fleet`, {
      headers: { cookie: `cleave_session=${session!.value}` },
    });
    console.log(`after Log out: page at ${new URL(page.url()).pathname}, replayed cookie -> ${replayed.status}`);
    expect(replayed.status).toBe(401);
    await page.close();
  });

  it('stays usable on a 390 px wide phone screen', async () => {
    const page = await loggedInPage(390, 844);
    await page.click(`button[data-open="fmnist/${version}"]`);
    await page.waitForSelector('#split-chart');
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    // On failure, name the elements that stick out, so the layout bug is found without a debugger.
    const offenders = await page.evaluate<string>(
      "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(-5).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')",
    );
    expect(overflow, offenders).toBeLessThanOrEqual(1);
    // Chart.js sizes the canvas from a ResizeObserver callback, after the first paint.
    await expect
      .poll(async () => (await page.locator('#split-chart').boundingBox())?.width ?? 0, { timeout: 5000 })
      .toBeGreaterThan(300);
    await page.screenshot({ path: join(ARTIFACTS, 'phone-390.png'), fullPage: true });
    await page.close();
  });

  it('runs under its Content-Security-Policy without a single violation, and the policy blocks inline script', async () => {
    const clean = cspViolations.length;
    console.log(`CSP violations while using the console: ${clean}`);
    expect(cspViolations).toEqual([]);
    // The detector works, and the policy is enforced: an injected inline script is refused and reported.
    const page = await loggedInPage(1280, 800);
    await page.evaluate(
      "(() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.append(s); })()",
    );
    await expect.poll(() => cspViolations.length, { timeout: 5000 }).toBeGreaterThan(clean);
    expect(await page.evaluate<unknown>('window.injected')).toBeUndefined();
    await page.close();
  });
});
