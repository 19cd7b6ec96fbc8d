// Rollouts in the console, in headless Chromium: two real agents (one behind a 1 Mbps userspace-emulated link),
// a retrained v2 published next to v1. The promote dialog shows each agent's download and the manifest diff and
// asks to confirm; the Rollouts section then shows the slow agent's download progress (bytes, %) from its
// heartbeats while the fast one is already current; cancelling puts v1 back and both agents end on v1.
// Code that runs inside the page is passed as strings (see console.test.ts for why).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { REPO_ROOT, startEmbeddedNats, type EmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type ConsoleProcess,
  type EdgeBundle,
  type EdgeProcess,
  launchChromium,
  type LinkEmulator,
  startConsoleProcess,
  startEdgeProcess,
  startLinkEmulator,
  waitFor,
  writeExitsVariantModel,
} from '../harness/mod.js';

const TOKEN = 'rollout-test-token-0123456789';
const PREFIX = 'cleave';
const SLOW_MBPS = 1;
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts', 'console');

let work: string;
let nats: EmbeddedNats;
let nc: NatsConnection;
let link: LinkEmulator;
let consoleProc: ConsoleProcess;
let browser: Browser;
let v1: EdgeBundle;
let v2: EdgeBundle;
const agents: EdgeProcess[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  work = await mkdtemp(join(tmpdir(), 'cleave-browser-rollouts-'));
  // v2 is a retrained copy (every weight moved): its weights file is new content, its graphs may be too.
  v1 = await buildEdgeBundle(join(work, 'v1'), { runs: 1 });
  v2 = await buildEdgeBundle(join(work, 'v2'), {
    runs: 1,
    model: await writeExitsVariantModel(join(work, 'v2.onnx'), 0.5, { retrained: true }),
  });
  nats = await startEmbeddedNats();
  nc = await connect({ servers: nats.url });
  await publishBundle(nc, v1.dir, { prefix: PREFIX, makeCurrent: true });
  await publishBundle(nc, v2.dir, { prefix: PREFIX, makeCurrent: false });
  // Unshaped while the agent provisions v1 (as over a LAN before going into the field), shaped once it serves.
  link = await startLinkEmulator({ host: '127.0.0.1', port: nats.port });
  for (const [agentId, natsUrl] of [
    ['gw-slow', link.url],
    ['gw-fast', nats.url],
  ] as const) {
    agents.push(await startEdgeProcess({ agentId, natsUrl, prefix: PREFIX, workDir: work, heartbeatIntervalMs: 500 }));
  }
  for (const agent of agents) {
    const client = new EdgeClient({ url: agent.httpUrl });
    await waitFor(() => client.ready(), `${agent.agentId} ready`, 60_000, 100);
  }
  link.shape({ rateMbps: SLOW_MBPS, delayMs: 20 });
  consoleProc = await startConsoleProcess(nats.url, PREFIX, TOKEN);
  browser = await launchChromium();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await consoleProc?.stop();
  await Promise.all(agents.map((a) => a.stop()));
  await link?.close();
  await nc?.close();
  await nats?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function untilTrue(page: Page, expression: string, timeout = 5000): Promise<void> {
  await expect.poll(() => page.evaluate<boolean>(`Boolean(${expression})`), { timeout }).toBe(true);
}

async function loggedInPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  await page.goto(`${consoleProc.url}/login`);
  await page.fill('input[name="name"]', 'rollout-test');
  await page.fill('input[name="token"]', TOKEN);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#rollout-list');
  return page;
}

/** Page width beyond the viewport, and the elements that stick out (for the failure message). */
async function horizontalOverflow(page: Page): Promise<{ px: number; offenders: string }> {
  return {
    px: await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
    offenders: await page.evaluate<string>(
      "[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(-5).map((e) => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className).join(', ')",
    ),
  };
}

const rowState = (page: Page, agentId: string) =>
  page.locator(`.rollout[data-model="fmnist"] tr[data-agent="${agentId}"]`).getAttribute('data-state');

/** Bytes of v2's files whose content v1 lacks: at most what any agent downloads to switch. */
function freshBytes(before: EdgeBundle, after: EdgeBundle): number {
  const known = new Set(Object.values(before.manifest.files).map((f) => f.sha256));
  const fresh = new Map<string, number>();
  for (const f of Object.values(after.manifest.files)) if (!known.has(f.sha256)) fresh.set(f.sha256, f.bytes);
  return [...fresh.values()].reduce((a, b) => a + b, 0);
}

describe('rollouts in the console', () => {
  it('previews a promotion, confirms it, shows the slow agent downloading, and cancels back to v1', async () => {
    const page = await loggedInPage(1280, 800);
    page.on('dialog', (d) => void d.accept()); // the cancel button's confirm()
    await expect
      .poll(() => page.locator('.rollout[data-model="fmnist"] .rollout-summary').textContent(), { timeout: 15_000 })
      .toBe('2 of 2 agents on current');

    // Step 1: the preview. Nothing changes until confirmed.
    await page.click(`button[data-promote="fmnist/${v2.version}"]`);
    await page.waitForSelector('#promote-total[data-bytes]', { timeout: 15_000 });
    const total = Number(await page.locator('#promote-total').getAttribute('data-bytes'));
    const perAgent = await page.evaluate<Record<string, number>>(
      "Object.fromEntries([...document.querySelectorAll('.promote-agents tr[data-agent]')].map((r) => [r.dataset.agent, Number(r.dataset.bytes)]))",
    );
    const weights = v2.manifest.weights ? v2.manifest.files[v2.manifest.weights.file]!.bytes : 0;
    const upperBound = freshBytes(v1, v2);
    console.log(
      `promotion preview: ${JSON.stringify(perAgent)} bytes per agent, ${total} in all; v2's new content ${upperBound} B, weights ${weights} B`,
    );
    expect(Object.keys(perAgent).sort()).toEqual(['gw-fast', 'gw-slow']);
    for (const bytes of Object.values(perAgent)) {
      expect(bytes).toBeGreaterThanOrEqual(weights); // the retrained weights are new content
      expect(bytes).toBeLessThanOrEqual(upperBound); // never more than what v1 lacks
    }
    expect(total).toBe(perAgent['gw-fast']! + perAgent['gw-slow']!);
    const diff = await page.locator('.promote-diff').textContent();
    expect(diff).toContain(v1.version);
    expect(diff).toContain(v2.version);
    expect(diff).toMatch(/Exit rate\d+\.\d%\d+\.\d%/);
    await page.screenshot({ path: join(ARTIFACTS, 'promote-dialog-1280x800.png') });
    expect(await rowState(page, 'gw-slow')).toBe('current');

    // Step 2: confirm. The fast agent switches; the slow one reports its download in each heartbeat.
    await page.click('#promote-confirm');
    await untilTrue(page, "!document.querySelector('#promote-dialog').open");
    await expect.poll(() => rowState(page, 'gw-fast'), { timeout: 30_000 }).toBe('current');
    await expect.poll(() => rowState(page, 'gw-slow'), { timeout: 30_000 }).toBe('downloading');
    const slowDownload = () =>
      page.locator('.rollout[data-model="fmnist"] tr[data-agent="gw-slow"] td.download').textContent();
    const percentOf = (text: string | null) => Number(/\((\d+)%\) of/.exec(text ?? '')?.[1] ?? NaN);
    const first = await slowDownload();
    await expect
      .poll(async () => percentOf(await slowDownload()), { timeout: 20_000 })
      .toBeGreaterThan(percentOf(first));
    const later = await slowDownload();
    console.log(`slow agent (${SLOW_MBPS} Mbps): "${first}" then "${later}"`);
    expect(later).toMatch(new RegExp(`^ ?[\\d.]+ (kB|MB|B) of [\\d.]+ (kB|MB) \\(\\d+%\\) of ${v2.version}$`));
    expect(percentOf(later)).toBeLessThan(100);
    expect(await page.locator('.rollout[data-model="fmnist"] .rollout-summary').textContent()).toMatch(
      /^1 of 2 agents on current, 1 downloading \([\d.]+ (kB|MB) of [\d.]+ (kB|MB)\)$/,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'rollout-progress-1280x800.png'), fullPage: true });

    // On a phone, mid-rollout: nothing sticks out sideways.
    const phone = await loggedInPage(390, 844);
    await phone.waitForSelector('.rollout[data-model="fmnist"] tr[data-agent="gw-slow"]', { timeout: 10_000 });
    const overflow = await horizontalOverflow(phone);
    await phone.screenshot({ path: join(ARTIFACTS, 'rollout-progress-390.png'), fullPage: true });
    expect(overflow.px, overflow.offenders).toBeLessThanOrEqual(1);
    await phone.close();

    // Cancel: v1 is current again; the slow agent drops its download and both serve v1.
    await page.click('button[data-cancel="fmnist"]');
    await expect
      .poll(() => page.locator('.rollout[data-model="fmnist"] .rollout-result').textContent(), { timeout: 10_000 })
      .toBe(`Cancelled ${v2.version}: ${v1.version} is current again.`);
    await expect
      .poll(() => page.locator('.rollout[data-model="fmnist"] h3').textContent(), { timeout: 5000 })
      .toBe(`fmnist · current ${v1.version}`);
    await expect
      .poll(() => page.locator('.rollout[data-model="fmnist"] .rollout-summary').textContent(), { timeout: 60_000 })
      .toBe('2 of 2 agents on current');
    const serving = await page.evaluate<string[]>(
      "[...document.querySelectorAll('.rollout[data-model=\"fmnist\"] tr[data-agent]')].map((r) => r.dataset.agent + '=' + r.children[2].textContent)",
    );
    expect(serving.sort()).toEqual([`gw-fast=${v1.version}`, `gw-slow=${v1.version}`]);
    await expect
      .poll(() => page.locator('#audit-list li').first().textContent(), { timeout: 5000 })
      .toContain('rollout-test cancel-rollout fmnist');
    console.log(`after cancel: ${serving.join(', ')}; link carried ${link.stats.downBytes} B to the slow agent`);
    await page.close();
  }, 180_000);

  it('refuses a stale confirm: the current version changed since the preview', async () => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const preview = (await (
      await fetch(`${consoleProc.url}/api/models/fmnist/promotion?version=${v2.version}`, { headers })
    ).json()) as { confirm: { version: string; expectedCurrent: string | null } };
    expect(preview.confirm).toEqual({ version: v2.version, expectedCurrent: v1.version });
    const stale = await fetch(`${consoleProc.url}/api/models/fmnist/promotion`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ version: v2.version, expectedCurrent: v2.version }),
    });
    const body = (await stale.json()) as { error: string };
    console.log(`stale confirm -> ${stale.status} ${body.error}`);
    expect(stale.status).toBe(409);
    expect(body.error).toContain(`is now ${v1.version}`);
    const bad = await fetch(`${consoleProc.url}/api/models/fmnist/promotion?version=no.such`, { headers });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { fieldErrors: Record<string, unknown> }).fieldErrors).toHaveProperty('version');
  });
});
