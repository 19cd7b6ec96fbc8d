// Per-client reply inboxes. A NATS client receives every reply (request/reply, JetStream API answers, KV watch and
// object chunk deliveries) on subjects under its inbox prefix, and a server grants subscriptions by subject. With
// the library default `_INBOX` every user must be allowed `_INBOX.>`, which is also everybody else's replies. So
// each Cleave client takes the prefix `_INBOX.<identity>`, and deploy/nats/accounts.conf (and the JWT templates of
// `cleave fleet`, `_INBOX.{{name()}}.>`) grant each user exactly its own. The prefix keeps `_INBOX` as its first
// token on purpose: the JetStream account exports one stream, `_INBOX.>`, that carries consumer deliveries to
// every client's inbox and nowhere else (see accounts.conf).

/** First token of every Cleave inbox. */
const INBOX_ROOT = '_INBOX';

/**
 * The inbox prefix of a client whose NATS identity is `identity` (user name, JWT user name, agent id):
 * `_INBOX.<identity>`, with every character outside `A-Z a-z 0-9 _ -` replaced by `_` so that the prefix is always
 * exactly two subject tokens (a `.` would let user `a` read the replies of user `a.b`).
 */
export function inboxPrefixFor(identity: string): string {
  const token = identity.replace(/[^A-Za-z0-9_-]/g, '_');
  if (token.length === 0) throw new RangeError(`inboxPrefixFor: "identity" must not be empty`);
  return `${INBOX_ROOT}.${token}`;
}

const USER_JWT = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.-]+)\s*-*END NATS USER JWT-*/;

/**
 * The user name inside a creds file's user JWT (its `name` claim), which server-side templates such as
 * `{{name()}}` expand to; undefined when the file holds no readable JWT (the connection then fails on its own).
 */
export function credsUserName(creds: Uint8Array): string | undefined {
  const jwt = USER_JWT.exec(new TextDecoder().decode(creds))?.[1];
  const payload = jwt?.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { name?: unknown };
    return typeof claims.name === 'string' && claims.name.length > 0 ? claims.name : undefined;
  } catch {
    return undefined;
  }
}
