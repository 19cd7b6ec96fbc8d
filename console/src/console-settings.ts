// The console's own web settings (token, session secret, proxy and cookie options), from flags and the
// environment, validated once with every problem listed. The NATS settings are resolved by node-runtime.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PublisherKeySchema, type TrustedPublisher } from '@cleave/proto';
import { MIN_SESSION_SECRET_LENGTH } from './console-auth.js';

/** The web settings as given: flags, with the environment variables they fall back to. */
export interface ConsoleWebOptions {
  readonly token?: string;
  readonly sessionSecretFile?: string;
  readonly trustProxy?: boolean;
  readonly secureCookies?: boolean;
  /** Comma-separated publisher keys, each `KEY` or `NAME=KEY`. */
  readonly trustedPublishers?: string;
}

/** Validated web settings. */
export interface ResolvedConsoleWebSettings {
  /** The operator token; undefined means none was given (the caller picks and prints a random one). */
  readonly token: string | undefined;
  /** Signs session cookies; undefined means a random per-process secret (a restart logs operators out). */
  readonly sessionSecret: string | undefined;
  /** Where the secret came from, for the log (never the secret itself). */
  readonly sessionSecretSource: string | undefined;
  readonly trustProxy: boolean;
  readonly secureCookies: boolean;
  /** The publishers whose signatures the console reports as trusted (the agents' and replicas' list). */
  readonly trustedPublishers: readonly TrustedPublisher[];
}

/** Environment variables the console reads besides the NATS ones. */
export const CONSOLE_ENV = {
  token: 'CLEAVE_CONSOLE_TOKEN',
  sessionSecret: 'CLEAVE_CONSOLE_SESSION_SECRET',
  sessionSecretFile: 'CLEAVE_CONSOLE_SESSION_SECRET_FILE',
  /** The same variable the agents and replicas read. */
  trustedPublishers: 'CLEAVE_TRUSTED_PUBLISHERS',
} as const;

/** Parses `KEY` or `NAME=KEY` entries, comma-separated; each bad entry is a problem naming `source`. */
function parseTrustedPublishers(text: string, source: string, problems: string[]): TrustedPublisher[] {
  const out: TrustedPublisher[] = [];
  for (const entry of text
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')) {
    const at = entry.lastIndexOf('=');
    const [name, key] = at < 0 ? [undefined, entry] : [entry.slice(0, at).trim(), entry.slice(at + 1).trim()];
    const parsed = PublisherKeySchema.safeParse(key);
    if (!parsed.success || name === '') {
      problems.push(`${source}: '${entry}' ${parsed.success ? 'has an empty name' : parsed.error.issues[0]!.message}`);
      continue;
    }
    out.push(name === undefined ? { publicKey: parsed.data } : { publicKey: parsed.data, name });
  }
  return out;
}

const settingsSchema = z.object({
  token: z.string().min(16, 'must be at least 16 characters').optional(),
  sessionSecret: z
    .string()
    .min(
      MIN_SESSION_SECRET_LENGTH,
      `must be at least ${MIN_SESSION_SECRET_LENGTH} characters (try: openssl rand -hex 32)`,
    )
    .optional(),
});

/**
 * Resolves the web settings: flags over the environment. A session secret comes from `--session-secret-file`,
 * else `CLEAVE_CONSOLE_SESSION_SECRET_FILE`, else `CLEAVE_CONSOLE_SESSION_SECRET`; a file's surrounding whitespace
 * is trimmed. Returns every problem (each naming its flag, variable or file), or the settings.
 */
export async function resolveConsoleWebSettings(
  options: ConsoleWebOptions,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ ok: true; settings: ResolvedConsoleWebSettings } | { ok: false; problems: string[] }> {
  const problems: string[] = [];
  const tokenSource = options.token !== undefined ? '--token' : CONSOLE_ENV.token;
  const token = options.token ?? env[CONSOLE_ENV.token];
  const secretFile = options.sessionSecretFile ?? env[CONSOLE_ENV.sessionSecretFile];
  const fileSource = options.sessionSecretFile !== undefined ? '--session-secret-file' : CONSOLE_ENV.sessionSecretFile;
  let sessionSecret: string | undefined;
  let sessionSecretSource: string | undefined;
  if (secretFile !== undefined) {
    sessionSecretSource = `${fileSource} ${secretFile}`;
    try {
      sessionSecret = (await readFile(secretFile, 'utf8')).trim();
    } catch (error) {
      problems.push(`${sessionSecretSource}: cannot read the session secret: ${(error as Error).message}`);
    }
  } else if (env[CONSOLE_ENV.sessionSecret] !== undefined) {
    sessionSecretSource = CONSOLE_ENV.sessionSecret;
    sessionSecret = env[CONSOLE_ENV.sessionSecret];
  }
  const trustedSource =
    options.trustedPublishers !== undefined ? '--trusted-publishers' : CONSOLE_ENV.trustedPublishers;
  const trustedPublishers = parseTrustedPublishers(
    options.trustedPublishers ?? env[CONSOLE_ENV.trustedPublishers] ?? '',
    trustedSource,
    problems,
  );
  const parsed = settingsSchema.safeParse({ token, sessionSecret });
  if (!parsed.success) {
    const sources: Record<string, string | undefined> = { token: tokenSource, sessionSecret: sessionSecretSource };
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0]);
      problems.push(`${sources[field] ?? field}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) return { ok: false, problems };
  return {
    ok: true,
    settings: {
      token: parsed.data.token,
      sessionSecret: parsed.data.sessionSecret,
      sessionSecretSource,
      trustProxy: options.trustProxy ?? false,
      secureCookies: options.secureCookies ?? false,
      trustedPublishers,
    },
  };
}
