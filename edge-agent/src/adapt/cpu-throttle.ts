// Time the kernel held this process back under a CPU quota: a container's CPU limit, or a CFS quota that emulates
// a slower device. A throttled agent reads a reply, or writes its request, up to a CFS period late, and that wait
// used to count as time on the link: on a pi-class quota the agent measured a 100 Mbps link as 1.7 Mbps, and a
// halved quota cut its estimate of a loopback link from 2,100 to 55 Mbps, so the planner saw offloading as
// expensive exactly when the device got slow. The bandwidth estimator subtracts the throttled time of each exchange.
//
// The figure is the cgroup's own counter (`throttled_time` in ns under cgroup v1, `throttled_usec` under v2), read
// on the agent's clock around each exchange. Without a CPU controller, or outside any quota, it stays 0 and nothing
// changes. The counter sums throttled periods over the CPUs where the group had runnable threads, so an agent whose
// helper threads were runnable on a second CPU at the same time can see up to twice the wall time; the estimator
// never subtracts more than the exchange took. A group without a quota of its own is never throttled, so its
// counter is not read at all: an unthrottled agent pays one small read per `refreshMs`, not two per exchange.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** A reading of the throttled-time counter. */
export interface ThrottleMark {
  readonly file: string | undefined;
  readonly ms: number;
}

/** Throttled time of this process's CPU cgroup, measured between two readings. */
export interface ThrottleClock {
  /** A reading to measure from. */
  mark(): ThrottleMark;
  /** Milliseconds throttled since `mark`; 0 when nothing can be read or the process changed groups in between. */
  since(mark: ThrottleMark): number;
}

/** Where a cgroup's throttled-time counter and its quota are, and how to read them. */
export interface CpuStatFiles {
  /** cpu.stat of the group. */
  readonly file: string;
  readonly key: string;
  readonly toMs: number;
  /** The group's quota: `cpu.cfs_quota_us` (v1, -1 = none) or `cpu.max` (v2, "max ..." = none). */
  readonly quotaFile: string;
}

/** Where the cgroup's cpu.stat is and which counter to read, for one line set of /proc/self/cgroup. */
export function cpuStatOf(procCgroup: string, root = '/sys/fs/cgroup'): CpuStatFiles {
  const lines = procCgroup.split('\n').map((l) => l.trim().split(':'));
  // cgroup v1: a hierarchy whose controllers include cpu ("1:cpu:/x" or "4:cpu,cpuacct:/x").
  const v1 = lines.find((f) => f.length >= 3 && f[1]!.split(',').includes('cpu'));
  if (v1 !== undefined) {
    const path = v1.slice(2).join(':');
    const dir = join(root, v1[1]!, path);
    return {
      file: join(dir, 'cpu.stat'),
      key: 'throttled_time',
      toMs: 1e-6,
      quotaFile: join(dir, 'cpu.cfs_quota_us'),
    };
  }
  // cgroup v2: the unified hierarchy ("0::/x").
  const v2 = lines.find((f) => f.length >= 3 && f[0] === '0' && f[1] === '');
  const path = v2 === undefined ? '/' : v2.slice(2).join(':');
  const dir = join(root, path);
  return { file: join(dir, 'cpu.stat'), key: 'throttled_usec', toMs: 1e-3, quotaFile: join(dir, 'cpu.max') };
}

/** Whether a quota file's text (`cpu.cfs_quota_us` or `cpu.max`) sets a quota. */
export function quotaIsSet(text: string): boolean {
  const first = text.trim().split(/\s+/)[0] ?? '';
  return first !== 'max' && Number(first) > 0;
}

/** The named counter of a cpu.stat text, in ms; undefined when it is not there. */
export function throttledMsIn(cpuStat: string, key: string, toMs: number): number | undefined {
  const line = cpuStat.split('\n').find((l) => l.startsWith(`${key} `));
  const value = line === undefined ? Number.NaN : Number(line.slice(key.length + 1));
  return Number.isFinite(value) ? value * toMs : undefined;
}

// cpu.stat is read twice per exchange (and twice per probe round trip); readFileSync (open, fstat, read, close)
// took 19.3 µs a read here, a pread of an open descriptor 4.8 µs. The file stays open and is read again from offset
// 0, where a cgroup file is generated anew. One descriptor per file for the process's life, shared by every clock.
const openStats = new Map<string, number>();
const statBuffer = Buffer.alloc(4096);

function readStat(file: string): string {
  let fd = openStats.get(file);
  if (fd === undefined) {
    fd = openSync(file, 'r');
    openStats.set(file, fd);
  }
  try {
    return statBuffer.toString('latin1', 0, readSync(fd, statBuffer, 0, statBuffer.length, 0));
  } catch (error) {
    openStats.delete(file);
    closeSync(fd);
    throw error;
  }
}

/**
 * A clock of this process's throttled time. The cgroup is looked up again every `refreshMs`, since a process can be
 * moved into a group after it started (as a device-class harness does).
 */
export function createThrottleClock(options: { refreshMs?: number; now?: () => number } = {}): ThrottleClock {
  const refreshMs = options.refreshMs ?? 2000;
  const now = options.now ?? (() => performance.now());
  let stat: CpuStatFiles | undefined;
  let limited = false;
  let resolvedAt = Number.NEGATIVE_INFINITY;
  let disabled = false;

  function read(): ThrottleMark {
    if (disabled) return { file: undefined, ms: 0 };
    if (stat === undefined || now() - resolvedAt > refreshMs) {
      try {
        stat = cpuStatOf(readFileSync('/proc/self/cgroup', 'utf8'));
        resolvedAt = now();
      } catch {
        // No /proc here (another OS, a sandbox): throttled time is unknown, so none is assumed.
        disabled = true;
        return { file: undefined, ms: 0 };
      }
      try {
        limited = quotaIsSet(readFileSync(stat.quotaFile, 'utf8'));
      } catch {
        limited = true; // the quota cannot be read (no such file in this layout): read the counter anyway
      }
    }
    if (!limited) return { file: undefined, ms: 0 };
    try {
      const ms = throttledMsIn(readStat(stat.file), stat.key, stat.toMs);
      return ms === undefined ? { file: undefined, ms: 0 } : { file: stat.file, ms };
    } catch {
      resolvedAt = Number.NEGATIVE_INFINITY; // the group may be gone: look again next time
      return { file: undefined, ms: 0 };
    }
  }

  return {
    mark: read,
    since(mark) {
      if (mark.file === undefined) return 0;
      const current = read();
      return current.file === mark.file ? Math.max(0, current.ms - mark.ms) : 0;
    },
  };
}
