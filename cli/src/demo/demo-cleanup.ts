// Cleanup for the demo: a stack of undo steps run in reverse on any exit, and removal of what a crashed or killed
// earlier run left behind (its CPU-quota groups, with any agent still in them; namespaces are handled by the links).
import { readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, killAll } from '../process-control.js';

/** Undo steps, run last-in first-out; a failing step is reported and the rest still run. */
export interface CleanupStack {
  push(name: string, step: () => Promise<void> | void): void;
  run(onError: (name: string, error: unknown) => void): Promise<void>;
}

/** Creates an empty stack. */
export function createCleanupStack(): CleanupStack {
  const steps: { name: string; step: () => Promise<void> | void }[] = [];
  return {
    push(name, step) {
      steps.push({ name, step });
    },
    async run(onError) {
      for (const { name, step } of steps.splice(0).reverse()) {
        try {
          await step();
        } catch (error) {
          onError(name, error);
        }
      }
    },
  };
}

const CGROUP_CPU_ROOT = '/sys/fs/cgroup/cpu';
const DEMO_GROUP = /^cleave-demo-(\d+)-/;

/** Kills processes left in `cleave-demo-<pid>-*` cgroups of dead demo runs and removes the groups. Never throws. */
export async function removeStaleDemoGroups(): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(CGROUP_CPU_ROOT).catch(() => [] as string[]);
  for (const name of names) {
    const match = DEMO_GROUP.exec(name);
    if (match === null || isAlive(Number(match[1]))) continue;
    const procs = await readFile(join(CGROUP_CPU_ROOT, name, 'cgroup.procs'), 'utf8').catch(() => '');
    killAll(procs);
    for (let attempt = 0; attempt < 20; attempt++) {
      if (
        await rmdir(join(CGROUP_CPU_ROOT, name)).then(
          () => true,
          () => false,
        )
      ) {
        removed.push(name);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return removed;
}

/** What a run has started, kept on disk so the next run can clean up after a SIGKILL or a crash. */
export interface RunRecord {
  /** Notes a child process (nats-server, cloud replica, agents) and writes the record. */
  addPid(pid: number | undefined): Promise<void>;
  /** Deletes the record at a clean exit. */
  remove(): Promise<void>;
}

const RUN_RECORD = /^cleave-demo-(\d+)\.json$/;

/** Starts this run's record in the temp dir, naming its work directory. */
export async function createRunRecord(workDir: string): Promise<RunRecord> {
  const path = join(tmpdir(), `cleave-demo-${process.pid}.json`);
  const state = { workDir, pids: [] as number[] };
  const save = () => writeFile(path, JSON.stringify(state));
  await save();
  return {
    async addPid(pid) {
      if (pid === undefined) return;
      state.pids.push(pid);
      await save();
    },
    remove: () => rm(path, { force: true }),
  };
}

/**
 * Finds records of dead runs and kills what they started (only processes that still run nats-server or the
 * cleave CLI, so a reused pid is never hit), removes their work directories and the records. Never throws.
 */
export async function removeStaleRuns(): Promise<number[]> {
  const owners: number[] = [];
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const match = RUN_RECORD.exec(name);
    if (match === null || isAlive(Number(match[1]))) continue;
    const path = join(tmpdir(), name);
    let record: { workDir?: string; pids?: number[] } = {};
    try {
      record = JSON.parse(await readFile(path, 'utf8')) as typeof record;
    } catch {
      // unreadable: only the file itself is removed
    }
    for (const pid of record.pids ?? []) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      // Only what the dead run started: the pid may have been reused since.
      if (cmdline.includes('nats-server') || cmdline.includes('main.js')) killAll([pid]);
    }
    if (record.workDir?.startsWith(join(tmpdir(), 'cleave-demo-'))) {
      await rm(record.workDir, { recursive: true, force: true }).catch(() => undefined);
    }
    await rm(path, { force: true });
    owners.push(Number(match[1]));
  }
  return owners;
}
