// A JWT-mode fleet on disk: the operator, the SYS, STORE and CLEAVE accounts, one scoped signing key per role, the
// users issued so far, and the nats-server config fragment made from them. Secrets (seeds, creds) sit in files of
// mode 0600 under keys/ and creds/; fleet.json and nats-fleet.conf hold only public keys and signed JWTs.
//
// Revocation: the server runs the MEMORY resolver preloaded from nats-fleet.conf. Revoking re-signs the CLEAVE
// account JWT with the user's key in its revocation list and rewrites the fragment; a config reload (SIGHUP) makes
// the server re-read it, apply the new account claims and disconnect the revoked user, whose JWT is refused from
// then on. The fragment is the whole of what servers need, so a restarted server knows every revocation, and no
// system-account credentials or separate JWT store are involved (a full resolver would take pushes over
// $SYS.REQ.CLAIMS.UPDATE instead, worth it when many servers must learn changes without reloads).
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Account,
  createAccount,
  createOperator,
  createUser,
  decode,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  type KeyPair,
  type SigningKey,
} from '@nats-io/jwt';
import { FLEET_ROLES, type FleetRole, type FleetState, parseFleetState, pathExists } from '@cleave/node-runtime';
import { CodedError, isValidToken } from '@cleave/proto';
import {
  expandTemplate,
  ROLE_TEMPLATES,
  SCOPED_ROLES,
  STORE_DELIVERIES,
  STORE_LIMITS,
  STORE_SERVICES,
} from './fleet-roles.js';

/** Why a fleet command failed; the message names the directory, user or file. */
export class FleetError extends CodedError<'not_a_fleet' | 'exists' | 'bad_name' | 'unknown_user' | 'bad_state'> {
  override readonly name = 'FleetError';
}

const ACCOUNTS = ['SYS', 'STORE', 'CLEAVE'] as const;
type AccountName = (typeof ACCOUNTS)[number];

/** Where a fleet keeps each file. */
export function fleetPaths(dir: string) {
  return {
    state: join(dir, 'fleet.json'),
    fragment: join(dir, 'nats-fleet.conf'),
    operatorJwt: join(dir, 'operator.jwt'),
    keys: join(dir, 'keys'),
    creds: join(dir, 'creds'),
    seed: (name: string) => join(dir, 'keys', `${name}.nk`),
    credsFile: (name: string) => join(dir, 'creds', `${name}.creds`),
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Creates a fleet in `dir` (refused if one is there): keys, the sys user's creds and the server fragment. */
export async function initFleet(dir: string): Promise<{ fragment: string; sysCreds: string }> {
  const paths = fleetPaths(dir);
  if (await pathExists(paths.state))
    throw new FleetError('exists', `${paths.state} exists already: ${dir} holds a fleet`);
  await mkdir(paths.keys, { recursive: true, mode: 0o700 });
  await mkdir(paths.creds, { recursive: true, mode: 0o700 });
  const operator = createOperator();
  await writeSecret(paths.seed('operator'), operator.getSeed());
  const accounts = {} as Record<AccountName, string>;
  for (const name of ACCOUNTS) {
    const kp = createAccount();
    await writeSecret(paths.seed(name), kp.getSeed());
    accounts[name] = kp.getPublicKey();
  }
  // Signed once: a server refuses a config reload whose trusted operator changed, even by a fresh signature.
  const operatorJwt = await encodeOperator('cleave', operator, { system_account: accounts.SYS });
  await writeAtomically(paths.operatorJwt, `${operatorJwt}\n`, 0o644);
  const signingKeys = {} as Record<FleetRole, string>;
  for (const role of FLEET_ROLES) {
    const kp = createAccount();
    await writeSecret(paths.seed(`role-${role}`), kp.getSeed());
    signingKeys[role] = kp.getPublicKey();
  }
  const state: FleetState = {
    version: 1,
    operator: operator.getPublicKey(),
    accounts,
    signingKeys,
    users: {},
    revocations: {},
  };
  await saveFleet(dir, state);
  // The monitoring user of the system account (`nats server report ...`), signed by SYS itself; encodeUser gives
  // it the unlimited subs/data/payload (-1) that nsc writes too.
  const sys = createUser();
  const sysJwt = await encodeUser('sys', sys, await seedOf(dir, 'SYS'));
  await writeSecret(paths.credsFile('sys'), fmtCreds(sysJwt, sys));
  return { fragment: paths.fragment, sysCreds: paths.credsFile('sys') };
}

/** Issues user `name` in `role` (an agent's name is its agent id) and writes its creds file. */
export async function issueUser(dir: string, name: string, role: FleetRole): Promise<{ creds: string }> {
  const [creds] = await issueUsers(dir, [name], role);
  return { creds: creds! };
}

/**
 * Issues every user of `names` in `role` with one read and one write of the fleet's state, so a fleet of hundreds
 * of agents is issued in one command. Every name is checked before any is issued: all or nothing.
 */
export async function issueUsers(dir: string, names: readonly string[], role: FleetRole): Promise<string[]> {
  const state = await loadFleet(dir);
  const seen = new Set<string>();
  for (const name of names) {
    if (!isValidToken(name))
      throw new FleetError('bad_name', `"${String(name)}": a name must be 1-128 characters of A-Z a-z 0-9 _ -`);
    const existing = state.users[name];
    if (existing !== undefined) {
      throw new FleetError('exists', `user "${name}" is issued already (role ${existing.role}); revoke it first`);
    }
    if (seen.has(name)) throw new FleetError('exists', `user "${name}" is named twice`);
    seen.add(name);
  }
  const signer = await seedOf(dir, `role-${role}`);
  const scoped = SCOPED_ROLES.has(role);
  const paths = fleetPaths(dir);
  const written: string[] = [];
  for (const name of names) {
    const user = createUser();
    // Signed by the role's key on behalf of CLEAVE (encodeUser then sets issuer_account). A scoped user carries no
    // permissions or limits (the server refuses one with any, and `scopedUser` keeps encodeUser from adding its
    // default subs/data/payload): it gets exactly the key's template. A plain-key user carries the role's
    // permissions itself, plus those unlimited defaults.
    const jwt = await encodeUser(
      name,
      user,
      state.accounts.CLEAVE,
      scoped ? {} : expandTemplate(ROLE_TEMPLATES[role], name),
      { signer, scopedUser: scoped },
    );
    await writeSecret(paths.credsFile(name), fmtCreds(jwt, user));
    // The JWT's own iat (encodeUser takes the time itself), which revocation must reach.
    state.users[name] = { role, publicKey: user.getPublicKey(), issuedAt: decode(jwt).iat };
    written.push(paths.credsFile(name));
  }
  await saveFleet(dir, state);
  return written;
}

/**
 * Revokes user `name`: its key enters CLEAVE's revocation list, the fragment is rewritten, and the name is free to
 * be issued again (with a new key; the old creds stay refused).
 */
export async function revokeUser(dir: string, name: string): Promise<{ fragment: string; publicKey: string }> {
  const state = await loadFleet(dir);
  const user = state.users[name];
  if (user === undefined) throw new FleetError('unknown_user', `no user "${name}" issued in ${fleetPaths(dir).state}`);
  // The server refuses a JWT issued at or before this second.
  state.revocations[user.publicKey] = Math.max(nowSeconds(), user.issuedAt);
  delete state.users[name];
  await saveFleet(dir, state);
  return { fragment: fleetPaths(dir).fragment, publicKey: user.publicKey };
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/** The three account JWTs, signed by the operator. */
async function accountJwts(dir: string, state: FleetState): Promise<Record<AccountName, string>> {
  const operator = await seedOf(dir, 'operator');
  const { SYS, STORE, CLEAVE } = state.accounts;
  const revocations = state.revocations;
  const account = (name: AccountName, sub: string, claims: Partial<Account>) =>
    encodeAccount(name, sub, claims, { signer: operator });
  // SYS and STORE never change after init: signed once and kept, so a reload after a revocation updates CLEAVE
  // alone (re-signed STORE claims made the server reset the imports and drop other CLEAVE clients for a moment).
  const signedOnce = async (name: AccountName, sign: () => Promise<string>): Promise<string> => {
    const path = join(dir, `${name}.account.jwt`);
    const kept = await readFile(path, 'utf8').then(
      (text) => text.trim(),
      () => undefined,
    );
    if (kept !== undefined) return kept;
    const jwt = await sign();
    await writeAtomically(path, `${jwt}\n`, 0o644);
    return jwt;
  };
  return {
    SYS: await signedOnce('SYS', () => account('SYS', SYS, { limits: UNLIMITED })),
    STORE: await signedOnce('STORE', () =>
      account('STORE', STORE, {
        limits: {
          ...UNLIMITED,
          mem_storage: STORE_LIMITS.memBytes,
          disk_storage: STORE_LIMITS.fileBytes,
          streams: STORE_LIMITS.streams,
          consumer: -1,
        },
        exports: [
          ...STORE_SERVICES.map((subject) => ({ name: subject, subject, type: 'service' as const })),
          { name: 'deliveries', subject: STORE_DELIVERIES, type: 'stream' },
        ],
      }),
    ),
    CLEAVE: await account('CLEAVE', CLEAVE, {
      limits: UNLIMITED,
      imports: [
        ...STORE_SERVICES.map((subject) => ({ name: subject, subject, account: STORE, type: 'service' as const })),
        { name: 'deliveries', subject: STORE_DELIVERIES, account: STORE, type: 'stream' },
      ],
      signing_keys: FLEET_ROLES.map((role) =>
        SCOPED_ROLES.has(role) ? scopedSigningKey(state.signingKeys[role], role) : state.signingKeys[role],
      ),
      ...(Object.keys(revocations).length === 0 ? {} : { revocations }),
    }),
  };
}

/**
 * A role's scoped signing key. Not newScopedSigner: that fills in every default of a template, among them
 * `resp: {max: 0, ttl: 0}`, which the server reads as allow_responses (one reply, two minutes) and so would let
 * the console and publisher roles, which have no `resp`, reply to requests they receive.
 */
function scopedSigningKey(key: string, role: FleetRole): SigningKey {
  const { pub, sub, resp } = ROLE_TEMPLATES[role];
  const template = {
    pub: { allow: [...pub.allow] },
    sub: { allow: [...sub.allow] },
    ...(resp === undefined ? {} : { resp }),
    subs: -1,
    data: -1,
    payload: -1,
  };
  return { kind: 'user_scope', key, role, template };
}

/** The nats-server config fragment: trusted operator, system account, and the accounts preloaded in memory. */
async function renderFragment(dir: string, state: FleetState): Promise<string> {
  const jwts = await accountJwts(dir, state);
  const operator = (await readFile(fleetPaths(dir).operatorJwt, 'utf8')).trim();
  const preload = ACCOUNTS.map((name) => `  # ${name}\n  ${state.accounts[name]}: "${jwts[name]}"`).join('\n');
  return [
    '# Written by `cleave fleet` from fleet.json: do not edit, every fleet command rewrites it. Only public keys and',
    '# signed JWTs; the seeds stay in keys/. After `cleave fleet revoke`, reload the server (SIGHUP) to apply.',
    `operator: "${operator}"`,
    `system_account: ${state.accounts.SYS}`,
    'resolver: MEMORY',
    'resolver_preload: {',
    preload,
    '}',
    '',
  ].join('\n');
}

async function loadFleet(dir: string): Promise<FleetState> {
  const path = fleetPaths(dir).state;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new FleetError('not_a_fleet', `${path} not found: run \`cleave fleet init --dir ${dir}\` first`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new FleetError('bad_state', `${path}: not JSON (${(error as Error).message})`);
  }
  try {
    return parseFleetState(raw, path);
  } catch (error) {
    throw new FleetError('bad_state', (error as Error).message);
  }
}

/** Saves the state and rewrites the fragment from it (atomically, so a reload never reads half a file). */
async function saveFleet(dir: string, state: FleetState): Promise<void> {
  const paths = fleetPaths(dir);
  await writeAtomically(paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o644);
  await writeAtomically(paths.fragment, await renderFragment(dir, state), 0o644);
}

async function seedOf(dir: string, name: string): Promise<KeyPair> {
  const path = fleetPaths(dir).seed(name);
  try {
    return fromSeed(new TextEncoder().encode((await readFile(path, 'utf8')).trim()));
  } catch (error) {
    throw new FleetError('bad_state', `${path}: cannot read the seed (${(error as Error).message})`);
  }
}

/** Writes a seed or creds file (mode 0600), ending in one newline. */
async function writeSecret(path: string, content: Uint8Array): Promise<void> {
  const text = new TextDecoder().decode(content);
  await writeFile(path, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text, { mode });
  await rename(temp, path);
}
