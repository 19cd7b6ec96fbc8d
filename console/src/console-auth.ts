import { createHmac, timingSafeEqual } from 'node:crypto';

/** Who made a request, for the audit log. */
export interface Principal {
  readonly name: string;
  readonly via: 'bearer' | 'session';
}

/** Session cookie and CSRF logic for the console; stateless (HMAC-signed), so replicas need no shared store. */
export interface ConsoleAuth {
  /** Checks an operator token (bearer header or login form) in constant time. */
  tokenMatches(candidate: string | undefined): boolean;
  /** A signed session cookie value for `name`, valid until now + TTL. */
  issueSession(name: string): string;
  /** The principal of a session cookie, or undefined when missing, forged or expired. */
  verifySession(cookie: string | undefined): Principal | undefined;
  /** The CSRF token bound to a session cookie; write requests made with the cookie must echo it in a header. */
  csrfFor(cookie: string): string;
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'cleave_session';
/** Header that carries the CSRF token on cookie-authenticated writes. */
export const CSRF_HEADER = 'x-cleave-csrf';

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Creates the console's auth helpers from the operator token and a signing secret. */
export function createConsoleAuth(options: {
  token: string;
  secret: string;
  sessionTtlMs?: number;
  now?: () => number;
}): ConsoleAuth {
  if (options.token.length < 16) throw new RangeError("'token' must be at least 16 characters");
  const ttl = options.sessionTtlMs ?? 12 * 3600_000;
  const now = options.now ?? Date.now;
  const sign = (payload: string): string => createHmac('sha256', options.secret).update(payload).digest('base64url');
  return {
    tokenMatches: (candidate) => candidate !== undefined && safeEqual(candidate, options.token),
    issueSession(name) {
      const payload = Buffer.from(JSON.stringify({ n: name.slice(0, 64) || 'operator', e: now() + ttl })).toString(
        'base64url',
      );
      return `${payload}.${sign(payload)}`;
    },
    verifySession(cookie) {
      const [payload, signature] = (cookie ?? '').split('.');
      if (!payload || !signature || !safeEqual(signature, sign(payload))) return undefined;
      try {
        const { n, e } = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { n: string; e: number };
        return e > now() ? { name: n, via: 'session' } : undefined;
      } catch {
        return undefined;
      }
    },
    csrfFor: (cookie) => sign(`csrf:${cookie}`),
  };
}
