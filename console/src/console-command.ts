// `cleave console` and `cleave-console`: the flags, here; the console itself is imported when the command runs.
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { type CommandContext, integerOption } from '@cleave/node-runtime/command-line';
import { DEFAULT_SUBJECT_PREFIX } from '@cleave/proto';

interface ConsoleOptions {
  natsUrl?: string;
  natsUser?: string;
  creds?: string;
  natsTlsCa?: string;
  prefix: string;
  host: string;
  port: number;
  token?: string;
  sessionSecretFile?: string;
  trustProxy?: boolean;
  secureCookies?: boolean;
  alertDriftMinutes: number;
  trustedPublishers?: string;
}

/** Makes `command` the operator web console, served until SIGINT or SIGTERM. */
export function defineConsoleCommand(command: Command, ctx: CommandContext): Command {
  const env = ctx.env;
  return command
    .description('Serve the operator console: fleet, cloud replicas, bundles and split charts, policies and rollouts.')
    .option('--nats-url <url>', 'NATS server(s), comma-separated (default: NATS_URL)')
    .option('--nats-user <user>', 'NATS user; the password comes from CLEAVE_NATS_PASS (default: CLEAVE_NATS_USER)')
    .option('--creds <file>', 'NATS credentials file, JWT + nkey (default: CLEAVE_NATS_CREDS)')
    .option('--nats-tls-ca <file>', 'CA for a TLS NATS server (default: CLEAVE_NATS_TLS_CA)')
    .option('--prefix <prefix>', 'subject prefix and bucket stem', DEFAULT_SUBJECT_PREFIX)
    .option('--host <host>', 'interface to bind; keep 127.0.0.1 unless a TLS proxy fronts it', '127.0.0.1')
    .option('--port <port>', 'HTTP port (0 picks a free one)', integerOption('port', 0, 65535), 8080)
    .option(
      '--token <token>',
      'operator token for login and the API (default: CLEAVE_CONSOLE_TOKEN, else a random one printed at start)',
    )
    .option(
      '--session-secret-file <file>',
      'file holding the secret (32+ characters) that signs session cookies, so sessions survive a restart and work on every console that shares it (default: CLEAVE_CONSOLE_SESSION_SECRET_FILE, CLEAVE_CONSOLE_SESSION_SECRET; else a random one per process)',
    )
    .option(
      '--trust-proxy',
      'a reverse proxy fronts the console: take the client address from X-Forwarded-For and HTTPS from X-Forwarded-Proto',
    )
    .option('--secure-cookies', 'always mark the session cookie Secure (TLS terminated in front of the console)')
    .option(
      '--trusted-publishers <keys>',
      'publisher public keys the agents trust, comma-separated, each KEY or NAME=KEY: the console checks every version against them (default: CLEAVE_TRUSTED_PUBLISHERS)',
    )
    .option(
      '--alert-drift-minutes <minutes>',
      'raise a version-drift alert when an agent serves another version than current for this long',
      integerOption('alert-drift-minutes', 0, 7 * 24 * 60),
      10,
    )
    .action(async (opts: ConsoleOptions) => {
      const [
        { assertToken },
        { ConfigError, connectNats, openHeartbeatHistory, resolveNatsSettings },
        web,
        { resolveConsoleWebSettings },
      ] = await Promise.all([
        import('@cleave/proto'),
        import('@cleave/node-runtime'),
        import('./mod.js'),
        import('./console-settings.js'),
      ]);
      const webSettings = await resolveConsoleWebSettings(opts, env);
      if (!webSettings.ok) throw new ConfigError(webSettings.problems);
      const settings = webSettings.settings;
      if (!(opts.natsUrl ?? env['NATS_URL'])) throw new Error('no NATS server: pass --nats-url or set NATS_URL');
      // The same credentials env as `cleave cloud` (CLEAVE_NATS_USER/PASS/TOKEN/CREDS/...), flags over env.
      const flags = [
        ['nats.servers', opts.natsUrl, '--nats-url'],
        ['nats.user', opts.natsUser, '--nats-user'],
        ['nats.credsFile', opts.creds, '--creds'],
        ['nats.tls.caFile', opts.natsTlsCa, '--nats-tls-ca'],
      ].flatMap(([path, value, flag]) => (value === undefined ? [] : [{ path: path!, value, flag: flag! }]));
      const nats = resolveNatsSettings(env, flags, 'cleave-console');
      const prefix = assertToken(opts.prefix, 'prefix');
      const token = settings.token ?? randomBytes(18).toString('base64url');
      const nc = await connectNats(nats, 'cleave-console');
      // The heartbeat history (a mirror of the bucket) is made here, so it records before anyone opens a page. A
      // deployment that provisions its streams and denies the console this leaves history off, with a warning.
      await openHeartbeatHistory(nc, prefix).then(
        (stream) => ctx.log.info({ stream }, 'heartbeat history recording'),
        (error: unknown) => ctx.log.warn({ error: String(error) }, 'heartbeat history unavailable'),
      );
      const app = await web.createConsoleApp({
        data: web.createConsoleData(nc, { prefix, log: ctx.log, trustedPublishers: settings.trustedPublishers }),
        // Without a configured secret, a per-process one: a restart logs every operator out.
        auth: web.createConsoleAuth({
          token,
          ...(settings.sessionSecret === undefined ? {} : { secret: settings.sessionSecret }),
        }),
        trustProxy: settings.trustProxy,
        secureCookies: settings.secureCookies,
        alertRules: { driftMinutes: opts.alertDriftMinutes },
      });
      const server = await web.startConsoleServer(app, { host: opts.host, port: opts.port });
      ctx.log.info(
        {
          url: server.url,
          nats: nats.servers.join(','),
          prefix,
          sessionSecret: settings.sessionSecretSource ?? 'random per process (sessions end at restart)',
          trustProxy: settings.trustProxy,
          secureCookies: settings.secureCookies,
          trustedPublishers: settings.trustedPublishers.map((p) => p.name ?? p.publicKey),
        },
        'console ready',
      );
      if (settings.token === undefined) process.stderr.write(`console login token: ${token}\n`);
      const signal = await ctx.shutdownSignal;
      ctx.log.info({ signal }, 'console stopping');
      await server.close();
      await nc.drain();
    });
}
