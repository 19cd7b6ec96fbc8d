// The README's first command, end to end: `cleave demo --once` on a small slice of t10k, with its defaults (the
// heavier example on pi-class gateways, no pins). It must exit 0 and print a summary of three gateways where the
// plan itself offloaded requests and the cut link made some fall back; the console it prints must answer while it
// runs; and nothing it started (namespaces, cgroups) may outlive it.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { DEVICE_CLASSES } from '@cleave/cli';
import { runCleave, startCleave } from '../harness/mod.js';

interface Row {
  agent: string;
  requests: number;
  exitRate: number;
  offloads: number;
  fallbacks: number;
  errors: number;
  accuracy: number;
}

/** Reads the final summary table: the rows under the dashed rule, by column position of the header. */
function parseSummary(stdout: string): Row[] {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => l.startsWith('agent ') && l.includes('accuracy'));
  expect(header, 'summary table header').toBeGreaterThanOrEqual(0);
  const names = lines[header]!.split(/\s{2,}/);
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('gw-')) break;
    const cells = line.split(/\s{2,}/);
    expect(cells).toHaveLength(names.length);
    const cell = (name: string) => cells[names.indexOf(name)]!;
    rows.push({
      agent: cell('agent'),
      requests: Number(cell('requests')),
      exitRate: parseFloat(cell('exit rate')) / 100,
      offloads: Number(cell('offloads')),
      fallbacks: Number(cell('fallbacks')),
      errors: Number(cell('errors')),
      accuracy: parseFloat(cell('accuracy')) / 100,
    });
  }
  return rows;
}

describe('cleave demo', () => {
  it('rejects bad options with a one-line error and a non-zero exit', async () => {
    const bad = await runCleave(['demo', '--link', 'sideways']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.split('\n')[0]).toMatch(/--link must be one of kernel, userspace, auto/);
    const both = await runCleave(['demo', '--once', '--duration', '5']);
    expect(both.code).toBe(1);
    expect(both.stderr.trim()).toBe('cleave: --once and --duration exclude each other');
  });

  it('--once streams t10k through three gateways, prints the summary, serves the console, cleans up', async () => {
    const child = startCleave(['demo', '--once', '--images', '240', '--cut-seconds', '3', '--console-port', '0']);
    let stdout = '';
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const consoleChecks: Promise<{ healthz: number; login: number }>[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout += line + '\n';
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'console ready' && entry.url) {
        const url = entry.url;
        consoleChecks.push(
          (async () => ({
            healthz: (await fetch(`${url}/healthz`)).status,
            login: (await fetch(`${url}/login`)).status,
          }))(),
        );
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, stderr).toBe(0);

    expect(stdout).toMatch(/console: http:\/\/127\.0\.0\.1:\d+ +\(login token: \S+\)/);
    // Where Prometheus can scrape the run: the replica's and every gateway's /metrics.
    expect(stdout).toMatch(/^metrics: cloud-1 http:\/\/\S+\/metrics(; gw-[\w-]+ http:\/\/\S+\/metrics){3}$/m);
    expect(consoleChecks).toHaveLength(1);
    expect(await consoleChecks[0]).toEqual({ healthz: 200, login: 200 });

    const rows = parseSummary(stdout);
    expect(rows.map((r) => r.agent)).toEqual(['gw-wifi', 'gw-4g', 'gw-3g']);
    expect(stdout).toMatch(/^Cleave demo: fmnist-heavy, 240 Fashion-MNIST t10k images \(upsampled to 96×96\)/m);
    expect(stdout).toMatch(
      process.getuid?.() === 0 ? `edge: pi class, ${DEVICE_CLASSES.pi.cores} core each` : 'edge: unthrottled',
    );
    expect(rows.reduce((n, r) => n + r.requests + r.errors, 0)).toBe(240);
    expect(rows.reduce((n, r) => n + r.errors, 0)).toBeLessThan(10);
    for (const row of rows) {
      // The heavier example scores 87.9% on t10k; an 80-image slice per gateway stays above 75%.
      expect(row.accuracy, row.agent).toBeGreaterThan(0.75);
    }
    // No gateway is pinned: every offload is the plan's own choice.
    expect(stdout).not.toMatch(/"pin":"split/);
    expect(rows.reduce((n, r) => n + r.offloads, 0)).toBeGreaterThan(0);
    // At 40% of the run the link of the gateway that offloaded most is cut: its requests that needed the cloud
    // then ran their tail locally.
    const cut = /link of (gw-[\w-]+) cut for 3 s/.exec(stdout)?.[1];
    expect(cut, stdout).toBeDefined();
    expect(stdout).toMatch(new RegExp(`^links: .*; cut: ${cut} for 3 s at 40%$`, 'm'));
    expect(rows.find((r) => r.agent === cut)!.fallbacks).toBeGreaterThan(0);

    const pid = child.pid!;
    if (process.getuid?.() === 0) {
      expect(execFileSync('ip', ['netns', 'list']).toString()).not.toContain(`cleave-${pid}-`);
      expect(readdirSync('/sys/fs/cgroup/cpu').filter((n) => n.startsWith(`cleave-demo-${pid}-`))).toEqual([]);
    }
  });

  it('without --once serves until SIGTERM, then stops every process it started and removes what it created', async () => {
    const child = startCleave(['demo', '--console-port', '0', '--rate', '5']);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const pid = child.pid!;
    let started: number[] = [];
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        // The first progress line comes once every gateway is up and the stream has run a few seconds.
        if (line.includes('"msg":"demo progress"')) {
          const record = JSON.parse(readFileSync(join(tmpdir(), `cleave-demo-${pid}.json`), 'utf8')) as {
            pids: number[];
          };
          started = record.pids;
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`demo exited early (${code}): ${stderr}`)));
    });
    expect(started.length).toBe(5); // nats-server, the cloud replica, three agents
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    for (const p of started) expect(() => process.kill(p, 0), `process ${p} still runs`).toThrow();
    expect(() => readFileSync(join(tmpdir(), `cleave-demo-${pid}.json`))).toThrow();
    if (process.getuid?.() === 0) {
      expect(execFileSync('ip', ['netns', 'list']).toString()).not.toContain(`cleave-${pid}-`);
      expect(readdirSync('/sys/fs/cgroup/cpu').filter((n) => n.startsWith(`cleave-demo-${pid}-`))).toEqual([]);
    }
  });
});
