import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePowerSupply, readPowerSupply } from '../src/adapt/battery-monitor.js';
import { chooseOperatingPoint, objectiveForPower } from '../src/adapt/objective-policy.js';
import { syntheticManifest } from './synthetic-manifest.js';

const tiers = { balancedBelow: 0.5, energyBelow: 0.2, hysteresis: 0.03 };
const onBattery = (level: number) => ({ onMains: false, level, charging: false, batteries: 1 });

describe('power supply parsing', () => {
  it('a discharging battery constrains; charging, full, "Not charging" or mains online do not', () => {
    const battery = (status: string, capacity = '42') => ({ name: 'BAT0', type: 'Battery', capacity, status });
    expect(parsePowerSupply([battery('Discharging')])).toEqual({
      onMains: false,
      level: 0.42,
      charging: false,
      batteries: 1,
    });
    expect(parsePowerSupply([battery('Charging')])).toMatchObject({ onMains: true, charging: true });
    expect(parsePowerSupply([battery('Full', '100')]).onMains).toBe(true);
    expect(parsePowerSupply([battery('Not charging')]).onMains).toBe(true);
    expect(parsePowerSupply([battery('Discharging'), { name: 'AC', type: 'Mains', online: '1' }]).onMains).toBe(true);
    expect(parsePowerSupply([battery('Discharging'), { name: 'AC', type: 'Mains', online: '0' }]).onMains).toBe(false);
  });

  it('no battery means mains; two batteries average; odd capacities are clamped', () => {
    expect(parsePowerSupply([])).toMatchObject({ onMains: true, level: undefined, batteries: 0 });
    const two = parsePowerSupply([
      { name: 'BAT0', type: 'Battery', capacity: '80', status: 'Discharging' },
      { name: 'BAT1', capacity: '140', status: 'Discharging' },
    ]);
    expect(two).toMatchObject({ onMains: false, level: 0.9, batteries: 2 });
  });

  describe('from a directory', () => {
    let dir: string | undefined;
    afterEach(async () => {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('reads <path>/*/{type,capacity,status,online}; a missing directory is mains', async () => {
      dir = await mkdtemp(join(tmpdir(), 'power-'));
      await mkdir(join(dir, 'BAT0'));
      await writeFile(join(dir, 'BAT0', 'type'), 'Battery\n');
      await writeFile(join(dir, 'BAT0', 'capacity'), '15\n');
      await writeFile(join(dir, 'BAT0', 'status'), 'Discharging\n');
      expect(await readPowerSupply(dir)).toEqual({ onMains: false, level: 0.15, charging: false, batteries: 1 });
      expect((await readPowerSupply(join(dir, 'nope'))).onMains).toBe(true);
    });
  });
});

describe('objective from power', () => {
  it('latency on mains and above 50%, balanced from 20% to 50%, energy below 20%', () => {
    expect(objectiveForPower({ onMains: true, level: 0.05, charging: true, batteries: 1 }, tiers)).toBe('latency');
    expect(objectiveForPower(onBattery(0.8), tiers)).toBe('latency');
    expect(objectiveForPower(onBattery(0.35), tiers)).toBe('balanced');
    expect(objectiveForPower(onBattery(0.15), tiers)).toBe('energy');
  });

  it('moves towards energy at once but back only 3 points above the threshold', () => {
    expect(objectiveForPower(onBattery(0.49), tiers, 'latency')).toBe('balanced');
    expect(objectiveForPower(onBattery(0.51), tiers, 'balanced')).toBe('balanced');
    expect(objectiveForPower(onBattery(0.53), tiers, 'balanced')).toBe('latency');
    expect(objectiveForPower(onBattery(0.21), tiers, 'energy')).toBe('energy');
    expect(objectiveForPower(onBattery(0.3), tiers, 'energy')).toBe('balanced');
  });
});

describe('operating point on the calibrated curve', () => {
  const policy = syntheticManifest().exitPolicy!;

  it('latency keeps the calibrated budget, balanced adds a point, energy takes the most lenient above the floor', () => {
    const pick = (objective: 'latency' | 'balanced' | 'energy', margin = 0) =>
      chooseOperatingPoint(policy, objective, { floorMarginPoints: margin }).point.budgetPoints;
    expect(pick('latency')).toBe(1);
    expect(pick('balanced')).toBe(2);
    expect(pick('energy')).toBe(3);
    // With a half-point margin over the 0.89 floor, the 3-point operating point (0.89) is no longer allowed.
    expect(pick('energy', 0.5)).toBe(2);
  });

  it('never goes below a stricter policy floor; with nothing allowed, no exit answers', () => {
    const strict = chooseOperatingPoint(policy, 'energy', { floorMarginPoints: 0, floorAccuracy: 0.915 });
    expect(strict.point.budgetPoints).toBe(0);
    const none = chooseOperatingPoint(policy, 'energy', { floorMarginPoints: 0, floorAccuracy: 0.99 });
    expect(none.point.thresholds).toEqual({ exit_1: null });
    expect(none.point.exitRate).toBe(0);
  });
});
