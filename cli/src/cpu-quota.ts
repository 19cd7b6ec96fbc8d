import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Root of the cgroup v1 cpu controller, writable as root on the project's machines. */
const CGROUP_CPU_ROOT = '/sys/fs/cgroup/cpu';
// The kernel's minimum quota is 1 ms. A short period makes millisecond-scale inference feel the
// throttle too; with the default 100 ms period a 10 ms run would fit in one burst at full speed.
const MIN_QUOTA_US = 1000;

/** A cgroup that caps the CPU time of the processes started in it, emulating a slower device. */
export interface CpuQuotaGroup extends AsyncDisposable {
  /** Cores granted (e.g. 0.25), or null when quotas are unavailable and processes run unthrottled. */
  readonly cores: number | null;
  /** Why the quota is not applied, when `cores` is null. */
  readonly unavailableReason: string | undefined;
  /** The group's directory under the cpu controller, or undefined when quotas are unavailable. */
  readonly path: string | undefined;
  /** Spawns `command args` inside the group (it joins before exec, so no instruction runs unthrottled). */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /**
   * Changes the quota of the running group, e.g. a device getting slower mid-run (thermal throttling, a
   * co-located job). Resolves once the kernel applies it; a no-op when quotas are unavailable.
   */
  setCores(cores: number): Promise<void>;
  /** Moves a running process (all its threads) into the group. A no-op when quotas are unavailable. */
  adopt(pid: number): Promise<void>;
  /** Removes the cgroup once its processes have exited. */
  remove(): Promise<void>;
}

/** Writes `cores` as cfs quota / period (a short period, see MIN_QUOTA_US) into the group at `dir`. */
async function writeQuota(dir: string, cores: number): Promise<void> {
  if (!(cores > 0)) throw new RangeError(`'cores' must be > 0, got ${cores}`);
  const quotaUs = Math.max(MIN_QUOTA_US, Math.round(cores * MIN_QUOTA_US));
  const periodUs = Math.round(quotaUs / cores);
  // Lift the quota first: the kernel rejects a period change that would exceed the current quota.
  await writeFile(join(dir, 'cpu.cfs_quota_us'), '-1');
  await writeFile(join(dir, 'cpu.cfs_period_us'), String(periodUs));
  await writeFile(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
}

/**
 * Creates a cgroup v1 cpu group limited to `cores` CPUs (cfs quota / period). When not root or
 * without a writable cpu controller, returns a group that runs processes unthrottled and says why.
 */
export async function createCpuQuotaGroup(name: string, cores: number): Promise<CpuQuotaGroup> {
  if (!(cores > 0)) throw new RangeError(`'cores' must be > 0, got ${cores}`);
  const dir = join(CGROUP_CPU_ROOT, name);
  let reason: string | undefined;
  try {
    await access(join(CGROUP_CPU_ROOT, 'cpu.cfs_quota_us'));
    await mkdir(dir, { recursive: true });
    await writeQuota(dir, cores);
  } catch (err) {
    reason = `cgroup v1 cpu controller not writable at ${CGROUP_CPU_ROOT} (${(err as NodeJS.ErrnoException).code ?? 'error'}); run as root to throttle`;
  }
  const remove = async (): Promise<void> => {
    if (reason === undefined) await rmdir(dir).catch(() => undefined);
  };
  let current = cores;
  return {
    get cores() {
      return reason === undefined ? current : null;
    },
    unavailableReason: reason,
    path: reason === undefined ? dir : undefined,
    async setCores(next) {
      if (reason !== undefined) return;
      await writeQuota(dir, next);
      current = next;
    },
    async adopt(pid) {
      if (reason === undefined) await writeFile(join(dir, 'cgroup.procs'), String(pid));
    },
    spawn(command, args, options = {}) {
      if (reason !== undefined) return spawn(command, [...args], options);
      // The shell writes its own pid into the group, then execs: the target starts already throttled.
      const script = `echo $$ > '${join(dir, 'cgroup.procs')}' && exec "$0" "$@"`;
      return spawn('/bin/sh', ['-c', script, command, ...args], options);
    },
    remove,
    [Symbol.asyncDispose]: remove,
  };
}

/**
 * Runs sections of this process inside the cpu cgroup at `dir` and the rest outside it (`cleave profile
 * --timing-cgroup`): the process writes itself into the group's `cgroup.procs` before a section and back into the
 * group it started in after. Needs the permission to write both (root on the project's machines).
 */
export async function createTimingCgroup(dir: string): Promise<<T>(section: () => Promise<T>) => Promise<T>> {
  const own = (await readFile('/proc/self/cgroup', 'utf8')).split('\n').find((l) => /:(cpu,cpuacct|cpu):/.test(l));
  const home = join(CGROUP_CPU_ROOT, own?.split(':')[2] ?? '/');
  const move = (to: string) => writeFile(join(to, 'cgroup.procs'), String(process.pid));
  // Fail here, once, with the path, rather than in the middle of the profile.
  await access(join(dir, 'cgroup.procs'), fsConstants.W_OK);
  return async (section) => {
    await move(dir);
    try {
      return await section();
    } finally {
      await move(home);
    }
  };
}
