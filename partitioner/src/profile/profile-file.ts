import { readFile, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { CodedError, perCodecSchema } from '@cleave/proto';
import type { ModelProfile } from './profiler.js';

const timing = z.object({
  medianMs: z.number().nonnegative(),
  p90Ms: z.number().nonnegative(),
  runs: z.number().int().positive(),
  batch: z.number().int().positive(),
});

const profileSchema = z.object({
  format: z.literal('cleave.profile/v1'),
  model: z.object({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  createdAt: z.string(),
  device: z.object({
    hostname: z.string(),
    cpuModel: z.string(),
    logicalCpus: z.number().int().positive(),
    cgroupCpuQuota: z.number().positive().nullable(),
    memoryBytes: z.number().nonnegative(),
    onnxruntime: z.string(),
    intraOpNumThreads: z.number().int().positive(),
  }),
  settings: z.object({
    runs: z.number().int().positive(),
    warmup: z.number().int().nonnegative(),
    batch: z.number().int().positive(),
  }),
  candidates: z.array(
    z.object({
      id: z.string(),
      wire: z.array(z.string()),
      head: timing.nullable(),
      tail: timing.nullable(),
      encodeMs: perCodecSchema(z.number()).optional(),
    }),
  ),
  nodes: z.array(z.object({ node: z.string(), op: z.string(), medianUs: z.number() })),
});

/** Why a profile was refused: the file itself, or what it describes. */
export const ProfileErrorCode = {
  /** The file cannot be read, or is not JSON. */
  Unreadable: 'unreadable',
  /** The JSON is not a cleave.profile/v1 document. */
  Invalid: 'invalid',
  /** A valid profile that does not describe the model or candidates being planned. */
  Mismatch: 'mismatch',
} as const;
/** One of {@link ProfileErrorCode}. */
export type ProfileErrorCode = (typeof ProfileErrorCode)[keyof typeof ProfileErrorCode];

/** A profile file that is unreadable or not a Cleave profile; lists every problem found. */
export class ProfileFileError extends CodedError<ProfileErrorCode> {
  override readonly name = 'ProfileFileError';
}

/** Reads and validates a profile JSON written by `cleave profile`. */
export async function readProfile(path: string): Promise<ModelProfile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ProfileFileError(
      ProfileErrorCode.Unreadable,
      `${path}: cannot read profile JSON (${(err as Error).message})`,
      { cause: err },
    );
  }
  const parsed = profileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ProfileFileError(
      ProfileErrorCode.Invalid,
      `${path}: not a valid cleave.profile/v1 file: ${problems.join('; ')}`,
    );
  }
  return parsed.data;
}

/** Writes a profile as pretty JSON. */
export async function writeProfile(path: string, profile: ModelProfile): Promise<void> {
  await writeFile(path, JSON.stringify(profile, null, 2) + '\n');
}
