// Liveness checks and hard kills of other processes, for cleaning up after runs that were killed outright.

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs every pid in a newline-separated list (as `cgroup.procs` and `ip netns pids` print), or an array. */
export function killAll(pids: string | readonly number[]): void {
  const list = typeof pids === 'string' ? pids.split('\n').map(Number) : pids;
  for (const pid of list.filter((n) => n > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
