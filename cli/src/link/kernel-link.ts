// The kernel link: the agent runs in its own network namespace, with two veth pairs to the host. The `wan` pair
// carries NATS and is rate-limited by `tc tbf` in both directions; the `lan` pair carries the app's calls to the
// agent's local API and is not shaped (the app sits next to the gateway). netem is not available on the target
// kernels, so delay is added by a userspace proxy on the host end of `wan`, which is also where a cut breaks
// open connections.
import { readFile } from 'node:fs/promises';
import { startLinkEmulator } from './userspace-link.js';
import type { EmulatedLink, LinkShape } from './link-types.js';
import { deleteNetns, NETNS_PREFIX, sh, tbfArgs } from './netns.js';

/** Options of {@link createKernelLink}. */
export interface KernelLinkOptions {
  /** The NATS server, as this (host) process reaches it. */
  readonly target: { host: string; port: number };
  /** Distinguishes this process's links: the namespace is `cleave-<pid>-<index>`. */
  readonly index: number;
  readonly initial?: Partial<LinkShape>;
}

// Two /16s, one /30 per link in each: 16,384 links, and the slot depends on the pid so parallel runs rarely meet.
const SLOTS = 16_384;

function slotAddress(net: string, slot: number, host: 1 | 2): string {
  return `${net}.${slot >> 6}.${(slot & 63) * 4 + host}`;
}

async function freeSlot(preferred: number): Promise<number> {
  const used = await sh('ip', ['-o', '-4', 'addr', 'show']);
  for (let i = 0; i < SLOTS; i++) {
    const slot = (preferred + i) % SLOTS;
    if (!used.includes(` ${slotAddress('10.231', slot, 1)}/`)) return slot;
  }
  throw new Error('no free 10.231.0.0/16 slot for a kernel link');
}

/** Creates a namespace, its veth pairs and shaping. Needs root; throws with the failing command otherwise. */
export async function createKernelLink(options: KernelLinkOptions): Promise<EmulatedLink> {
  const name = `${NETNS_PREFIX}${process.pid}-${options.index}`;
  const hostWan = `cw${process.pid}x${options.index}`;
  const hostLan = `cl${process.pid}x${options.index}`;
  const current: LinkShape = {
    rateMbps: options.initial?.rateMbps ?? Infinity,
    delayMs: options.initial?.delayMs ?? 0,
  };
  // Deleting a namespace frees its veths asynchronously; deleting the host ends first makes removal immediate.
  const remove = async (): Promise<void> => {
    for (const device of [hostWan, hostLan]) await sh('ip', ['link', 'del', device]).catch(() => undefined);
    await deleteNetns(name);
  };
  let slot = 0;
  const inNs = (command: string, args: string[]) => sh('ip', ['netns', 'exec', name, command, ...args]);
  let proxy: Awaited<ReturnType<typeof startLinkEmulator>> | undefined;
  try {
    slot = await freeSlot((process.pid * 4 + options.index) % SLOTS);
    await sh('ip', ['netns', 'add', name]);
    await sh('ip', ['link', 'add', hostWan, 'type', 'veth', 'peer', 'name', 'wan0', 'netns', name]);
    await sh('ip', ['link', 'add', hostLan, 'type', 'veth', 'peer', 'name', 'lan0', 'netns', name]);
    for (const [device, net] of [
      [hostWan, '10.231'],
      [hostLan, '10.232'],
    ] as const) {
      await sh('ip', ['addr', 'add', `${slotAddress(net, slot, 1)}/30`, 'dev', device]);
      await sh('ip', ['link', 'set', device, 'up']);
    }
    for (const [device, net] of [
      ['wan0', '10.231'],
      ['lan0', '10.232'],
    ] as const) {
      await inNs('ip', ['addr', 'add', `${slotAddress(net, slot, 2)}/30`, 'dev', device]);
      await inNs('ip', ['link', 'set', device, 'up']);
    }
    await inNs('ip', ['link', 'set', 'lo', 'up']);
    proxy = await startLinkEmulator(
      options.target,
      { rateMbps: Infinity, delayMs: current.delayMs },
      { listenHost: slotAddress('10.231', slot, 1) },
    );
  } catch (err) {
    await proxy?.close();
    await remove();
    throw err;
  }
  const delayProxy = proxy;

  const applyRate = async (rateMbps: number): Promise<void> => {
    if (Number.isFinite(rateMbps) && rateMbps > 0) {
      await sh('tc', tbfArgs(hostWan, rateMbps));
      await inNs('tc', tbfArgs('wan0', rateMbps));
    } else {
      await sh('tc', ['qdisc', 'del', 'dev', hostWan, 'root']).catch(() => undefined);
      await inNs('tc', ['qdisc', 'del', 'dev', 'wan0', 'root']).catch(() => undefined);
    }
  };
  try {
    await applyRate(current.rateMbps);
  } catch (err) {
    await delayProxy.close();
    await remove();
    throw err;
  }

  let isCut = false;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await delayProxy.close();
      await remove();
    })();
    return closing;
  };
  return {
    kind: 'kernel',
    name,
    url: delayProxy.url,
    netns: name,
    agentHost: slotAddress('10.232', slot, 2),
    get current() {
      return { ...current };
    },
    get isCut() {
      return isCut;
    },
    async shape(change) {
      if (change.rateMbps !== undefined && change.rateMbps !== current.rateMbps) {
        await applyRate(change.rateMbps);
        current.rateMbps = change.rateMbps;
      }
      if (change.delayMs !== undefined) {
        delayProxy.shape({ delayMs: change.delayMs });
        current.delayMs = change.delayMs;
      }
    },
    async cut() {
      isCut = true;
      // Break open connections first, so the agent learns at once, then take the interface down: new
      // connections find no route until restore.
      delayProxy.cut();
      await sh('ip', ['link', 'set', hostWan, 'down']);
    },
    async restore() {
      await sh('ip', ['link', 'set', hostWan, 'up']);
      delayProxy.restore();
      isCut = false;
    },
    async traffic() {
      // The host end's transmit counter is what left toward the agent, after tbf; its receive counter what came back.
      const counter = async (name: string) =>
        Number((await readFile(`/sys/class/net/${hostWan}/statistics/${name}`, 'utf8')).trim());
      return { toAgentBytes: await counter('tx_bytes'), fromAgentBytes: await counter('rx_bytes') };
    },
    wrap(command, args) {
      return { command: 'ip', args: ['netns', 'exec', name, command, ...args] };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
