import { readFile } from 'node:fs/promises';
import { cpus, hostname, totalmem } from 'node:os';
import ort from 'onnxruntime-node';

/** The machine a profile was measured on. Profiles from different machines are only comparable with this. */
export interface DeviceDescriptor {
  readonly hostname: string;
  readonly cpuModel: string;
  readonly logicalCpus: number;
  /** CPU cores granted by a cgroup quota (e.g. 0.25 for a quarter core), or null when unthrottled. */
  readonly cgroupCpuQuota: number | null;
  readonly memoryBytes: number;
  readonly onnxruntime: string;
  /** onnxruntime intra-op threads used for every measurement. */
  readonly intraOpNumThreads: number;
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The cgroup CPU quota of this process in cores (v2 `cpu.max`, else v1 `cfs_quota_us`), or null. */
export async function cgroupCpuQuota(): Promise<number | null> {
  try {
    const [quota, period] = (await readFile('/sys/fs/cgroup/cpu.max', 'utf8')).trim().split(/\s+/);
    if (quota !== undefined && quota !== 'max' && period !== undefined) return Number(quota) / Number(period);
  } catch {
    // not cgroup v2; fall through to v1
  }
  // Under v1, the process's own cgroup path is in /proc/self/cgroup ("N:cpu,cpuacct:/path").
  let path = '';
  try {
    const line = (await readFile('/proc/self/cgroup', 'utf8')).split('\n').find((l) => /:(cpu,cpuacct|cpu):/.test(l));
    path = line?.split(':')[2] ?? '';
  } catch {
    return null;
  }
  const base = `/sys/fs/cgroup/cpu${path === '/' ? '' : path}`;
  const quota = await readNumber(`${base}/cpu.cfs_quota_us`);
  const period = await readNumber(`${base}/cpu.cfs_period_us`);
  return quota !== undefined && period !== undefined && quota > 0 ? quota / period : null;
}

/**
 * True when two profiles were measured on one machine with the same CPU budget (host, CPU model and count, cgroup
 * quota, memory). A plan between them compares a device with itself, so offloading never pays and every split
 * comes out edge-only.
 */
export function isSameDevice(a: DeviceDescriptor, b: DeviceDescriptor): boolean {
  return (
    a.hostname === b.hostname &&
    a.cpuModel === b.cpuModel &&
    a.logicalCpus === b.logicalCpus &&
    a.cgroupCpuQuota === b.cgroupCpuQuota &&
    a.memoryBytes === b.memoryBytes
  );
}

/** Describes the current machine for a profile. */
export async function describeDevice(intraOpNumThreads: number): Promise<DeviceDescriptor> {
  const cpuList = cpus();
  return {
    hostname: hostname(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    logicalCpus: cpuList.length,
    cgroupCpuQuota: await cgroupCpuQuota(),
    memoryBytes: totalmem(),
    onnxruntime: ort.env.versions.node ?? 'unknown',
    intraOpNumThreads,
  };
}
