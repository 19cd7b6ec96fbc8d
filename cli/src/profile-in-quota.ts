// `cleave profile` for an emulated device: only the timed sections run in the device's CPU quota
// (`--timing-cgroup`). Loading Node, the model and the calibration images, checking every candidate and building
// each stage's session would take many minutes under a 0.05-core quota, and none of it is what the profile measures.
import type { CpuQuotaGroup } from './cpu-quota.js';
import { spawnCleave } from './demo/demo-process.js';

/** Runs `cleave profile ...args` timed inside `group`; rejects with the child's last output if it fails. */
export async function profileInQuota(
  group: CpuQuotaGroup,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<void> {
  const timing = group.path === undefined ? [] : ['--timing-cgroup', group.path];
  const child = spawnCleave('cleave profile (edge)', ['profile', ...args, ...timing], { env });
  const code = await child.exited;
  if (code !== 0) throw new Error(`cleave profile ${args[0] ?? ''} failed (${String(code)}): ${child.tail()}`);
}
