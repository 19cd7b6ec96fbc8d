// Cleanup for the demo: a stack of undo steps run in reverse on any exit, and removal of what a crashed or killed
// earlier run left behind (its CPU-quota groups, with any agent still in them; namespaces are handled by the links).
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills processes left in `cleave-demo-<pid>-*` cgroups of dead demo runs and removes the groups. Never throws. */
export async function removeStaleDemoGroups(): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(CGROUP_CPU_ROOT).catch(() => [] as string[]);
  for (const name of names) {
    const match = DEMO_GROUP.exec(name);
    if (match === null || alive(Number(match[1]))) continue;
    const procs = await readFile(join(CGROUP_CPU_ROOT, name, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const pid of procs
      .split('\n')
      .map(Number)
      .filter((n) => n > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
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
