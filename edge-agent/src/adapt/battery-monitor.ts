// The device's power source, from Linux's power-supply class (/sys/class/power_supply/<name>/{type,capacity,
// status,online}). The directory is configurable so tests can fake a battery with plain files.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the controller needs to know about power. */
export interface PowerState {
  /** True when no battery is draining: a mains or USB supply is online, or every battery charges or is full. */
  readonly onMains: boolean;
  /** Mean battery capacity in 0..1, or undefined without a battery. */
  readonly level: number | undefined;
  /** True when a battery reports `Charging`. */
  readonly charging: boolean;
  readonly batteries: number;
}

/** The files of one power-supply entry that matter, as read (trimmed). */
export interface PowerSupplyEntry {
  readonly name: string;
  readonly type?: string;
  readonly capacity?: string;
  readonly status?: string;
  readonly online?: string;
}

/** Power state with no battery information: treated as mains (no constraint). */
export const MAINS_POWER: PowerState = Object.freeze({
  onMains: true,
  level: undefined,
  charging: false,
  batteries: 0,
});

/**
 * Interprets power-supply entries. A battery constrains the agent only while it is `Discharging` and no other
 * supply is online; `Not charging` is what laptops report on AC at a charge threshold, so it counts as mains.
 */
export function parsePowerSupply(entries: readonly PowerSupplyEntry[]): PowerState {
  const batteries = entries.filter((e) => (e.type ?? (e.capacity !== undefined ? 'Battery' : '')) === 'Battery');
  const others = entries.filter((e) => !batteries.includes(e));
  const levels = batteries
    .map((b) => Number(b.capacity))
    .filter((n) => Number.isFinite(n))
    .map((n) => Math.min(100, Math.max(0, n)) / 100);
  const level = levels.length === 0 ? undefined : levels.reduce((a, b) => a + b, 0) / levels.length;
  const externalOnline = others.some((e) => e.online === '1');
  const discharging = batteries.some((b) => b.status === 'Discharging');
  return {
    onMains: externalOnline || !discharging || level === undefined,
    level,
    charging: batteries.some((b) => b.status === 'Charging'),
    batteries: batteries.length,
  };
}

/** Reads every entry under `path`; a missing directory means no battery (mains). */
export async function readPowerSupply(path: string): Promise<PowerState> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch {
    return MAINS_POWER;
  }
  const entries = await Promise.all(
    names.sort().map(async (name): Promise<PowerSupplyEntry> => {
      const read = async (file: string) =>
        readFile(join(path, name, file), 'utf8').then(
          (text) => text.trim(),
          () => undefined,
        );
      const [type, capacity, status, online] = await Promise.all(['type', 'capacity', 'status', 'online'].map(read));
      return {
        name,
        ...(type === undefined ? {} : { type }),
        ...(capacity === undefined ? {} : { capacity }),
        ...(status === undefined ? {} : { status }),
        ...(online === undefined ? {} : { online }),
      };
    }),
  );
  return parsePowerSupply(entries);
}

/** Polls the power-supply directory and reports changes. */
export interface BatteryMonitor extends AsyncDisposable {
  /** Reads once, then polls. */
  start(): Promise<void>;
  current(): PowerState;
  close(): Promise<void>;
}

/** What {@link createBatteryMonitor} needs. */
export interface BatteryMonitorDeps {
  readonly path: string;
  readonly pollMs: number;
  /** Called with the new state whenever level, mains or charging changes. */
  readonly onChange: (state: PowerState, previous: PowerState) => void;
}

/** Creates a monitor; sysfs has no change notifications, so it polls. */
export function createBatteryMonitor(deps: BatteryMonitorDeps): BatteryMonitor {
  let state: PowerState = MAINS_POWER;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  async function poll(): Promise<void> {
    const next = await readPowerSupply(deps.path);
    if (closed) return;
    const changed =
      next.onMains !== state.onMains ||
      next.level !== state.level ||
      next.charging !== state.charging ||
      next.batteries !== state.batteries;
    const previous = state;
    state = next;
    if (changed) deps.onChange(next, previous);
  }

  function schedule(): void {
    timer = setTimeout(() => {
      void poll().finally(() => {
        if (!closed) schedule();
      });
    }, deps.pollMs);
    timer.unref();
  }

  const close = (): Promise<void> => {
    closed = true;
    clearTimeout(timer);
    return Promise.resolve();
  };
  return {
    async start() {
      await poll();
      schedule();
    },
    current: () => state,
    close,
    [Symbol.asyncDispose]: close,
  };
}
