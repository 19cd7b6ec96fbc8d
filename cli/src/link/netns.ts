// Thin wrappers over `ip` and `tc` for the kernel link: namespaces, veth pairs, tbf, and stale-namespace cleanup.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CodedError } from '@cleave/proto';
import { isAlive, killAll } from '../process-control.js';

const run = promisify(execFile);

/** Namespaces this code creates are named `cleave-<owner pid>-<n>`, so a later run can tell stale ones. */
export const NETNS_PREFIX = 'cleave-';
const NAME_PATTERN = /^cleave-(\d+)-([a-z0-9]+)$/;

/** Why a namespace command failed: one reason, the command exited non-zero, timed out or could not start. */
export const NetnsCommandErrorCode = { CommandFailed: 'command_failed' } as const;
/** One of {@link NetnsCommandErrorCode}. */
export type NetnsCommandErrorCode = (typeof NetnsCommandErrorCode)[keyof typeof NetnsCommandErrorCode];

/** Raised when an `ip` or `tc` command fails; the message names the command and its stderr. */
export class NetnsCommandError extends CodedError<NetnsCommandErrorCode> {
  override readonly name = 'NetnsCommandError';
}

/** Runs `ip`/`tc` and returns stdout; rejects with the command and its stderr in one line. */
export async function sh(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(command, [...args], { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const detail = (e.stderr ?? '').trim() || e.code || e.message;
    throw new NetnsCommandError(NetnsCommandErrorCode.CommandFailed, `${command} ${args.join(' ')}: ${detail}`, {
      cause: err,
    });
  }
}

/** Names of the network namespaces on this machine. */
export async function listNetns(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Kills what still runs in a namespace, then deletes it (which removes its veth pairs). Never throws. */
export async function deleteNetns(name: string): Promise<void> {
  const pids = await sh('ip', ['netns', 'pids', name]).catch(() => '');
  killAll(pids);
  await sh('ip', ['netns', 'del', name]).catch(() => undefined);
}

/** Deletes `cleave-<pid>-<n>` namespaces whose owner process is dead (a crashed or killed earlier run). */
export async function removeStaleNetns(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNetns().catch(() => [])) {
    const match = NAME_PATTERN.exec(name);
    if (match === null || isAlive(Number(match[1]))) continue;
    await deleteNetns(name);
    removed.push(name);
  }
  return removed;
}

/** Why kernel links cannot be used here, or undefined when they can (root, `ip netns` and `tc` work). */
export async function kernelLinkUnavailableReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `${NETNS_PREFIX}${process.pid}-probe`;
  try {
    await sh('tc', ['-V']);
    await sh('ip', ['netns', 'add', probe]);
    await sh('ip', ['netns', 'exec', probe, 'tc', 'qdisc', 'show']);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await sh('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
}

/**
 * Arguments of a `tc qdisc replace ... tbf` that shapes `rateMbps`. The bucket holds ~10 ms of traffic (at least
 * two full frames) so short bursts pass as on a real link, and the queue holds 200 ms before dropping.
 */
export function tbfArgs(device: string, rateMbps: number): string[] {
  const bytesPerSecond = (rateMbps * 1e6) / 8;
  const burst = Math.max(3200, Math.ceil(bytesPerSecond / 100));
  return [
    'qdisc',
    'replace',
    'dev',
    device,
    'root',
    'tbf',
    'rate',
    `${Math.max(8, Math.round(rateMbps * 1000))}kbit`,
    'burst',
    String(burst),
    'latency',
    '200ms',
  ];
}
