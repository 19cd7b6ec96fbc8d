import { type Command, InvalidArgumentError } from 'commander';
import { FLEET_ROLES, type FleetRole } from '@cleave/node-runtime';
import type { CliContext } from '../cli-context.js';
import { initFleet, issueUser, issueUsers, revokeUser } from '../fleet/fleet-directory.js';

interface DirOption {
  dir: string;
}

const DIR_HELP = 'fleet directory: keys/ and creds/ (secrets, mode 0600), fleet.json, nats-fleet.conf';

/**
 * Registers `cleave fleet`: operator/JWT mode for large fleets. `init` makes the operator, the accounts and one
 * scoped signing key per role; `add-agent` and `add-user` issue creds files; `revoke` revokes a user and, with
 * `--reload-pid`, makes the running nats-server apply it (deploy/nats/jwt/ has a server config that includes the
 * fragment).
 */
export function registerFleetCommand(program: Command, ctx: CliContext): void {
  const fleet = program
    .command('fleet')
    .description('operator/JWT mode: issue and revoke agent and service credentials without editing server configs');

  fleet
    .command('init')
    .description('create the operator, the SYS, STORE and CLEAVE accounts, role signing keys and nats-fleet.conf')
    .requiredOption('--dir <dir>', DIR_HELP)
    .action(async (opts: DirOption) => {
      const { fragment, sysCreds } = await initFleet(opts.dir);
      ctx.log.info({ fragment, sysCreds }, 'fleet created: include the fragment in the server config');
    });

  fleet
    .command('add-agent')
    .description("issue edge agents' creds files (each NATS user is named after its agent id), all or none")
    .argument('<agent-id...>', 'agent ids, as given to `cleave edge --agent-id` (several: one fleet write)')
    .requiredOption('--dir <dir>', DIR_HELP)
    .action(async (agentIds: string[], opts: DirOption) => {
      const creds = await issueUsers(opts.dir, agentIds, 'agent');
      if (creds.length === 1) {
        ctx.log.info(
          { user: agentIds[0], role: 'agent', creds: creds[0] },
          'agent issued: start it with --creds <file>',
        );
      } else {
        ctx.log.info({ users: creds.length, role: 'agent', dir: opts.dir }, 'agents issued: creds/<agent-id>.creds');
      }
    });

  fleet
    .command('add-user')
    .description('issue the creds file of a cloud replica, console or publisher user')
    .argument('<name>', 'user name (also its inbox: _INBOX.<name>)')
    .requiredOption('--role <role>', 'cloud | console | publisher', parseServiceRole)
    .requiredOption('--dir <dir>', DIR_HELP)
    .action(async (name: string, opts: DirOption & { role: FleetRole }) => {
      const { creds } = await issueUser(opts.dir, name, opts.role);
      ctx.log.info({ user: name, role: opts.role, creds }, 'user issued');
    });

  fleet
    .command('revoke')
    .description('revoke a user (agent or service): its creds are refused once the server reloads the fragment')
    .argument('<name>', 'agent id or user name')
    .requiredOption('--dir <dir>', DIR_HELP)
    .option('--reload-pid <pid>', 'send SIGHUP to this nats-server so it applies the revocation now', (value) =>
      ctx.parseInteger('reload-pid', 1, 2 ** 31 - 1)(value),
    )
    .action(async (name: string, opts: DirOption & { reloadPid?: number }) => {
      const { fragment, publicKey } = await revokeUser(opts.dir, name);
      if (opts.reloadPid !== undefined) reloadServer(opts.reloadPid);
      ctx.log.info(
        { user: name, publicKey, fragment, reloaded: opts.reloadPid ?? null },
        opts.reloadPid === undefined
          ? 'revoked: copy the fragment to every server and reload them (nats-server --signal reload=<pid>)'
          : 'revoked and server reloaded',
      );
    });
}

const SERVICE_ROLES = FLEET_ROLES.filter((role) => role !== 'agent');

function parseServiceRole(value: string): FleetRole {
  const role = SERVICE_ROLES.find((r) => r === value);
  if (role === undefined) {
    throw new InvalidArgumentError(`must be one of ${SERVICE_ROLES.join(', ')} (agents: cleave fleet add-agent)`);
  }
  return role;
}

/** A config reload: nats-server re-reads the fragment, applies the re-signed account and drops revoked users. */
function reloadServer(pid: number): void {
  try {
    process.kill(pid, 'SIGHUP');
  } catch (error) {
    throw new Error(`--reload-pid ${pid}: cannot signal the server (${(error as NodeJS.ErrnoException).code})`, {
      cause: error,
    });
  }
}
