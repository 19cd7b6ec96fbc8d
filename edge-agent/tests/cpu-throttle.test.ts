// Reading the CPU cgroup's throttled time: where cpu.stat is under cgroup v1 and v2, its counters, and a real read
// on this machine (the counter of the group this test runs in never goes backwards), and as root a real quota
// group: this test process moves into it, spins, and must see its own throttled time; outside a quota it reads none.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuStatOf, createThrottleClock, quotaIsSet, throttledMsIn } from '../src/adapt/cpu-throttle.js';

describe('CPU throttle clock', () => {
  it('finds cpu.stat under cgroup v1 (cpu alone, or with cpuacct) and under v2', () => {
    const v1 = '4:memory:/m\n2:cpuacct:/\n1:cpu:/cleave-pi\n0::/\n';
    expect(cpuStatOf(v1, '/cg')).toEqual({
      file: '/cg/cpu/cleave-pi/cpu.stat',
      key: 'throttled_time',
      toMs: 1e-6,
      quotaFile: '/cg/cpu/cleave-pi/cpu.cfs_quota_us',
    });
    const joint = '3:cpu,cpuacct:/system.slice/edge.service\n';
    expect(cpuStatOf(joint, '/cg').file).toBe('/cg/cpu,cpuacct/system.slice/edge.service/cpu.stat');
    expect(cpuStatOf('0::/kubepods/pod1/c1\n', '/cg')).toEqual({
      file: '/cg/kubepods/pod1/c1/cpu.stat',
      key: 'throttled_usec',
      toMs: 1e-3,
      quotaFile: '/cg/kubepods/pod1/c1/cpu.max',
    });
  });

  it('tells a set quota from none, under v1 and v2', () => {
    expect(quotaIsSet('25000\n')).toBe(true);
    expect(quotaIsSet('-1\n')).toBe(false);
    expect(quotaIsSet('50000 100000\n')).toBe(true);
    expect(quotaIsSet('max 100000\n')).toBe(false);
  });

  it('reads the counter in ms, and nothing from a file without it', () => {
    const stat = 'nr_periods 120\nnr_throttled 40\nthrottled_time 2500000000\n';
    expect(throttledMsIn(stat, 'throttled_time', 1e-6)).toBe(2500);
    expect(throttledMsIn('usage_usec 10\nthrottled_usec 1500\n', 'throttled_usec', 1e-3)).toBe(1.5);
    expect(throttledMsIn('usage_usec 10\n', 'throttled_usec', 1e-3)).toBeUndefined();
  });

  it('measures from a mark on this machine, never a negative span', () => {
    const clock = createThrottleClock();
    const mark = clock.mark();
    expect(clock.since(mark)).toBeGreaterThanOrEqual(0);
    expect(clock.since({ file: '/no/such/group/cpu.stat', ms: 0 })).toBe(0);
  });

  const v1Root = '/sys/fs/cgroup/cpu';
  const writable =
    process.getuid?.() === 0 &&
    (() => {
      try {
        readFileSync(join(v1Root, 'cpu.cfs_quota_us'));
        return true;
      } catch {
        return false;
      }
    })();
  it.skipIf(!writable)('sees the time a real quota held this process back, and reads nothing without a quota', () => {
    const original =
      /^\d+:(?:[^:]*,)?cpu(?:,[^:]*)?:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
    const group = join(v1Root, `cleave-test-throttle-${process.pid}`);
    const spin = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    const clock = createThrottleClock({ refreshMs: 0 });
    mkdirSync(group);
    try {
      writeFileSync(join(group, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(group, 'cpu.cfs_quota_us'), '10000');
      writeFileSync(join(group, 'cgroup.procs'), String(process.pid));
      const mark = clock.mark();
      expect(mark.file).toBe(join(group, 'cpu.stat'));
      spin(400); // at 0.1 core, 400 ms of wall time holds the process back for most of it
      const throttled = clock.since(mark);
      expect(throttled).toBeGreaterThan(100);
      expect(throttled).toBeLessThan(2 * 400 + 100);
    } finally {
      writeFileSync(join(v1Root, original, 'cgroup.procs'), String(process.pid));
      rmdirSync(group);
    }
    if (!quotaIsSet(readFileSync(join(v1Root, original, 'cpu.cfs_quota_us'), 'utf8'))) {
      expect(clock.mark()).toEqual({ file: undefined, ms: 0 });
    }
  });
});
