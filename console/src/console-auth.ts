import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Who made a request, for the audit log. */
export interface Principal {
  readonly name: string;
  readonly via: 'bearer' | 'session';
}

/** A verified session cookie. */
export interface ConsoleSession {
  readonly principal: Principal;
  /** Random id of the session: what a logout revokes (not secret without the signing secret). */
  readonly id: string;
  /** Epoch ms after which the cookie is refused anyway; a revocation need not be kept longer. */
  readonly expiresAt: number;
}

/**
 * Session cookies and CSRF tokens. A cookie is `payload.hmac` (session id, operator name, expiry), so it verifies
 * on any console holding the same secret, and after a restart when the secret is configured. Logout cannot be
 * stateless, so the server keeps the revoked session ids (until they expire) and refuses them.
 */
export interface ConsoleAuth {
  /** Checks an operator token (bearer header or login form) in constant time. */
  tokenMatches(candidate: string | undefined): boolean;
  /** A signed session cookie value for `name`, valid until now + TTL. */
  issueSession(name: string): string;
  /** The session of a cookie, or undefined when missing, forged, expired or revoked. */
  verifySession(cookie: string | undefined): ConsoleSession | undefined;
  /** Refuses the cookie's session from now on; returns what was revoked (undefined when the cookie was not valid). */
  revokeSession(cookie: string | undefined): ConsoleSession | undefined;
  /** Marks a session id revoked, e.g. a logout recorded by another console or before a restart. */
  markRevoked(id: string, expiresAt: number): void;
  /** The CSRF token bound to a session cookie; write requests made with the cookie must echo it in a header. */
  csrfFor(cookie: string): string;
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'cleave_session';
/** Header that carries the CSRF token on cookie-authenticated writes. */
export const CSRF_HEADER = 'x-cleave-csrf';
/** Shortest accepted session secret: 32 characters, e.g. `openssl rand -hex 32` gives 64. */
export const MIN_SESSION_SECRET_LENGTH = 32;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Creates the console's auth helpers from the operator token and a signing secret. */
export function createConsoleAuth(options: {
  token: string;
  /**
   * Signs the cookies. Omitted: a random one for this process, so a restart logs every operator out. The command
   * line requires MIN_SESSION_SECRET_LENGTH characters.
   */
  secret?: string;
  sessionTtlMs?: number;
  now?: () => number;
}): ConsoleAuth {
  if (options.token.length < 16) throw new RangeError("'token' must be at least 16 characters");
  const secret = options.secret ?? randomBytes(32).toString('hex');
  const ttl = options.sessionTtlMs ?? 12 * 3600_000;
  const now = options.now ?? Date.now;
  const sign = (payload: string): string => createHmac('sha256', secret).update(payload).digest('base64url');
  /** Revoked session id -> its expiry; entries are dropped once the cookie would be refused anyway. */
  const revoked = new Map<string, number>();
  const forgetExpired = (): void => {
    const t = now();
    for (const [id, expiresAt] of revoked) if (expiresAt <= t) revoked.delete(id);
  };

  function decode(cookie: string | undefined): ConsoleSession | undefined {
    const [payload, signature, extra] = (cookie ?? '').split('.');
    if (!payload || !signature || extra !== undefined || !safeEqual(signature, sign(payload))) return undefined;
    try {
      const { s, n, e } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      if (typeof s !== 'string' || typeof n !== 'string' || typeof e !== 'number' || e <= now()) return undefined;
      return { principal: { name: n, via: 'session' }, id: s, expiresAt: e };
    } catch {
      return undefined;
    }
  }

  const auth: ConsoleAuth = {
    tokenMatches: (candidate) => candidate !== undefined && safeEqual(candidate, options.token),
    issueSession(name) {
      const body = { s: randomBytes(16).toString('base64url'), n: name.slice(0, 64) || 'operator', e: now() + ttl };
      const payload = Buffer.from(JSON.stringify(body)).toString('base64url');
      return `${payload}.${sign(payload)}`;
    },
    verifySession(cookie) {
      const session = decode(cookie);
      return session && !revoked.has(session.id) ? session : undefined;
    },
    revokeSession(cookie) {
      const session = auth.verifySession(cookie);
      if (session) auth.markRevoked(session.id, session.expiresAt);
      return session;
    },
    markRevoked(id, expiresAt) {
      forgetExpired();
      if (expiresAt > now()) revoked.set(id, expiresAt);
    },
    csrfFor: (cookie) => sign(`csrf:${cookie}`),
  };
  return auth;
}
