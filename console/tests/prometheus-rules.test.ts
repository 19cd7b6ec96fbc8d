// The alerting rules shipped in deploy/prometheus: promtool accepts them, its rule unit tests pass (the rules fire
// on the console's gauges after their `for`, and resolve when the gauge drops to 0), every alert kind the console
// exports has a rule, and the example scrape config is valid.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AlertKind } from '../src/alerts/alert-rules.js';

const PROMTOOL = '/usr/bin/promtool';
const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd: DIR, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe.skipIf(!existsSync(PROMTOOL))('deploy/prometheus alerting rules', () => {
  it('pass promtool check rules', () => {
    const { status, output } = promtool('check', 'rules', 'cleave-alerts.yml');
    console.log(output.replace(/\s+/g, ' '));
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const { status, output } = promtool('test', 'rules', 'cleave-alerts.test.yml');
    console.log(output.replace(/\s+/g, ' '));
    expect(status).toBe(0);
  });

  it('cover every alert kind the console exports', () => {
    const rules = readFileSync(`${DIR}cleave-alerts.yml`, 'utf8');
    const missing = Object.values(AlertKind).filter((kind) => !rules.includes(`alert="${kind}"`));
    expect(missing).toEqual([]);
  });

  it('come with a valid example scrape config', () => {
    const { status, output } = promtool('check', 'config', '--syntax-only', 'prometheus.example.yml');
    expect(output).toContain('valid prometheus config file syntax');
    expect(status).toBe(0);
  });
});

if (!existsSync(PROMTOOL)) console.log(`promtool missing at ${PROMTOOL}: apt-get install -y prometheus`);
