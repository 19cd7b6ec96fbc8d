// Reading the CPU cgroup's throttled time: where cpu.stat is under cgroup v1 and v2, its counters, and a real read
// on this machine (the counter of the group this test runs in never goes backwards).
import { describe, expect, it } from 'vitest';
import { cpuStatOf, createThrottleClock, throttledMsIn } from '../src/adapt/cpu-throttle.js';

describe('CPU throttle clock', () => {
  it('finds cpu.stat under cgroup v1 (cpu alone, or with cpuacct) and under v2', () => {
    const v1 = '4:memory:/m\n2:cpuacct:/\n1:cpu:/cleave-pi\n0::/\n';
    expect(cpuStatOf(v1, '/cg')).toEqual({ file: '/cg/cpu/cleave-pi/cpu.stat', key: 'throttled_time', toMs: 1e-6 });
    const joint = '3:cpu,cpuacct:/system.slice/edge.service\n';
    expect(cpuStatOf(joint, '/cg').file).toBe('/cg/cpu,cpuacct/system.slice/edge.service/cpu.stat');
    expect(cpuStatOf('0::/kubepods/pod1/c1\n', '/cg')).toEqual({
      file: '/cg/kubepods/pod1/c1/cpu.stat',
      key: 'throttled_usec',
      toMs: 1e-3,
    });
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
});
