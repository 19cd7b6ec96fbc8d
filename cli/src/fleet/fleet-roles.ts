// What each role of a JWT-mode fleet may do: the rules of deploy/nats/accounts.conf (which explains every grant),
// written once per role as the template of a scoped signing key. `{{name()}}` is the user JWT's name, so one key
// signs every agent and each agent still gets only its own heartbeat, KV key, probe, API and inbox. The accounts
// are laid out as in accounts.conf too: JetStream in STORE, whose consumer deliveries reach CLEAVE only through
// the `_INBOX.>` stream export, so a push consumer cannot deliver into another agent's subjects.
import type { UserPermissionsLimits } from '@nats-io/jwt';
import type { FleetRole } from '@cleave/node-runtime';

/** Subject permissions of one role (a scoped signing key's template). */
interface RoleTemplate {
  readonly pub: { readonly allow: readonly string[] };
  readonly sub: { readonly allow: readonly string[] };
  /** allow_responses: at most `max` replies to a request received, within `ttl` nanoseconds. */
  readonly resp?: { readonly max: number; readonly ttl: number };
}

const OWN = '{{name()}}';
const MINUTE_NS = 60 * 1e9;

/** Read access to a bucket's stream, as @nats-io/kv and @nats-io/obj use it (see accounts.conf, READ access). */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ];
}

const SRV_DISCOVERY = ['$SRV.PING', '$SRV.INFO', '$SRV.STATS', '$SRV.*.cleave-tail', '$SRV.*.cleave-tail.*'];

/** The permission template of each role, grant for grant the users of accounts.conf with the id made `{{name()}}`. */
export const ROLE_TEMPLATES: Readonly<Record<FleetRole, RoleTemplate>> = {
  agent: {
    pub: {
      allow: [
        `cleave.heartbeat.${OWN}`,
        `$KV.cleave_heartbeats.${OWN}`,
        `cleave.probe.${OWN}`,
        'cleave.tail.>',
        '$JS.API.INFO',
        '$JS.API.STREAM.INFO.KV_cleave_heartbeats',
        ...readStream('OBJ_cleave_bundles'),
        '$JS.API.CONSUMER.MSG.NEXT.OBJ_cleave_bundles.*',
        ...readStream('KV_cleave_current'),
        ...readStream('KV_cleave_policies'),
      ],
    },
    sub: { allow: [`_INBOX.${OWN}.>`, `cleave.agent.${OWN}.>`, 'cleave.bundle.*'] },
    // `allow_responses: true` in accounts.conf: one reply, within the server's default of two minutes.
    resp: { max: 1, ttl: 2 * MINUTE_NS },
  },
  cloud: {
    pub: { allow: ['$JS.API.INFO', ...readStream('OBJ_cleave_bundles'), ...readStream('KV_cleave_current')] },
    sub: { allow: ['cleave.tail.> cleave-tail', ...SRV_DISCOVERY, 'cleave.bundle.*', `_INBOX.${OWN}.>`] },
    resp: { max: 1, ttl: 10 * MINUTE_NS },
  },
  console: {
    pub: {
      allow: [
        ...SRV_DISCOVERY,
        '$JS.API.INFO',
        ...readStream('KV_cleave_heartbeats'),
        '$JS.API.STREAM.CREATE.KV_cleave_heartbeats',
        // The heartbeat history, a mirror of the bucket (accounts.conf): create it, read it with an ordered push
        // consumer (readStream's grants, flow control included).
        ...readStream('HISTORY_cleave_heartbeats'),
        '$JS.API.STREAM.CREATE.HISTORY_cleave_heartbeats',
        ...readStream('KV_cleave_policies'),
        '$JS.API.STREAM.CREATE.KV_cleave_policies',
        '$KV.cleave_policies.>',
        ...readStream('KV_cleave_audit'),
        '$JS.API.STREAM.CREATE.KV_cleave_audit',
        '$KV.cleave_audit.>',
        ...readStream('KV_cleave_current'),
        '$KV.cleave_current.>',
        ...readStream('OBJ_cleave_bundles'),
      ],
    },
    sub: { allow: [`_INBOX.${OWN}.>`, 'cleave.heartbeat.*', 'cleave.bundle.*'] },
  },
  publisher: {
    pub: {
      allow: [
        '$JS.API.INFO',
        ...readStream('OBJ_cleave_bundles'),
        '$JS.API.STREAM.CREATE.OBJ_cleave_bundles',
        '$O.cleave_bundles.>',
        '$JS.API.STREAM.PURGE.OBJ_cleave_bundles',
        ...readStream('KV_cleave_current'),
        '$JS.API.STREAM.CREATE.KV_cleave_current',
        '$KV.cleave_current.>',
        'cleave.bundle.*',
      ],
    },
    sub: { allow: [`_INBOX.${OWN}.>`] },
  },
};

/** Services STORE exports to CLEAVE (the JetStream API, bucket writes, flow control), as in accounts.conf. */
export const STORE_SERVICES = ['$JS.API.>', '$KV.>', '$O.>', '$JS.FC.>'] as const;
/** The one stream STORE exports: consumer deliveries reach CLEAVE clients only in their inboxes. */
export const STORE_DELIVERIES = '_INBOX.>';

/** JetStream limits of STORE (bytes), those of accounts.conf. */
export const STORE_LIMITS = { memBytes: 1024 ** 3, fileBytes: 50 * 1024 ** 3, streams: 64 } as const;

/**
 * Roles whose signing key is scoped (the server applies the template; the key cannot sign anything else). Not
 * `cloud`: nats-server 2.9 expands templates over the whole list and drops entries that are not plain subjects,
 * among them the queue grant `cleave.tail.> cleave-tail`. A cloud user's JWT therefore carries the role's
 * permissions itself, with its name filled in by `cleave fleet`, signed by a plain signing key.
 */
export const SCOPED_ROLES: ReadonlySet<FleetRole> = new Set(['agent', 'console', 'publisher']);

/** A role's permissions for user `name`, `{{name()}}` filled in, as a user JWT carries them. */
export function expandTemplate(template: RoleTemplate, name: string): Partial<UserPermissionsLimits> {
  const fill = (list: readonly string[]) => list.map((subject) => subject.replaceAll(OWN, name));
  return {
    pub: { allow: fill(template.pub.allow) },
    sub: { allow: fill(template.sub.allow) },
    ...(template.resp === undefined ? {} : { resp: template.resp }),
  };
}
