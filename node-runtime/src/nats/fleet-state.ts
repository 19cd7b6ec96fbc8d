// The state file of a JWT-mode fleet (`cleave fleet`, fleet.json): public keys of the operator, accounts and role
// signing keys, the users issued, and the revoked user keys. It holds no secret. Validated here, with zod like every
// other file Cleave reads, so that a damaged file is one error listing every problem.
import { z } from 'zod';

/** Roles a fleet user can be issued for. */
export const FLEET_ROLES = ['agent', 'cloud', 'console', 'publisher'] as const;
/** One of {@link FLEET_ROLES}. */
export type FleetRole = (typeof FLEET_ROLES)[number];

const publicKey = (prefix: 'O' | 'A' | 'U') =>
  z.string().regex(new RegExp(`^${prefix}[A-Z2-7]{55}$`), `must be an nkey public key starting with ${prefix}`);

const FleetStateSchema = z.strictObject({
  version: z.literal(1),
  operator: publicKey('O'),
  accounts: z.strictObject({ SYS: publicKey('A'), STORE: publicKey('A'), CLEAVE: publicKey('A') }),
  signingKeys: z.strictObject({
    agent: publicKey('A'),
    cloud: publicKey('A'),
    console: publicKey('A'),
    publisher: publicKey('A'),
  }),
  users: z.record(
    z.string(),
    z.strictObject({ role: z.enum(FLEET_ROLES), publicKey: publicKey('U'), issuedAt: z.number().int() }),
  ),
  /** Revoked user public key → Unix seconds: a JWT of that key issued at or before then is refused. */
  revocations: z.record(z.string(), z.number().int()),
});

/** A fleet's state, as fleet.json holds it. */
export type FleetState = z.infer<typeof FleetStateSchema>;

/** Validates parsed fleet.json content; the error lists every problem, each with its field path. */
export function parseFleetState(raw: unknown, path: string): FleetState {
  const parsed = FleetStateSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new TypeError(`${path}: ${issues.join('; ')}`);
}
