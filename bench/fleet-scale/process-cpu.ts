// CPU time of processes, from /proc/<pid>/stat (utime + stime, in clock ticks): how much of a core the console
// and each nats-server used over the bench's window.
import { readFile } from 'node:fs/promises';

/** Clock ticks per second: 100 on every Linux this runs on (USER_HZ), which /proc reports in. */
const TICKS_PER_SECOND = 100;

/** CPU seconds so far of each pid (user + system); NaN for a process that is gone. */
export async function cpuSeconds(pids: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND);
    } catch {
      out.set(pid, Number.NaN);
    }
  }
  return out;
}
