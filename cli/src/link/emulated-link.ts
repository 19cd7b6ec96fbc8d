// Picks and creates an emulated link: kernel shaping when root and `ip netns` work, else the userspace proxy.
import { createKernelLink } from './kernel-link.js';
import { type EmulatedLink, type LinkKind, type LinkMode, type LinkShape } from './link-types.js';
import { kernelLinkUnavailableReason, removeStaleNetns } from './netns.js';
import { startLinkEmulator } from './userspace-link.js';

/** Options of {@link createEmulatedLink}. */
export interface EmulatedLinkOptions {
  readonly kind: LinkKind;
  /** The NATS server, as this process reaches it. */
  readonly target: { host: string; port: number };
  /** Distinguishes the links of one process (kernel links are named `cleave-<pid>-<index>`). */
  readonly index: number;
  readonly initial?: Partial<LinkShape>;
}

/** The kind of link a mode resolves to, and why `auto` (or `kernel`) could not use the kernel. */
export interface ResolvedLinkMode {
  readonly kind: LinkKind;
  /** Set when kernel shaping is unavailable: the reason, in a few words. */
  readonly kernelUnavailable?: string;
}

/**
 * Resolves `auto` to kernel or userspace. `kernel` throws when the kernel cannot be used, so asking for it
 * explicitly never silently degrades. Also removes namespaces left by dead runs, since a kernel run may follow.
 */
export async function resolveLinkMode(mode: LinkMode): Promise<ResolvedLinkMode> {
  if (mode === 'userspace') return { kind: 'userspace' };
  const reason = await kernelLinkUnavailableReason();
  if (reason === undefined) {
    await removeStaleNetns();
    return { kind: 'kernel' };
  }
  if (mode === 'kernel') throw new Error(`kernel link emulation is not available: ${reason}`);
  return { kind: 'userspace', kernelUnavailable: reason };
}

/** A userspace proxy on 127.0.0.1 as an {@link EmulatedLink}: the agent runs in the host's namespace. */
export async function createUserspaceLink(
  target: { host: string; port: number },
  initial: Partial<LinkShape> = {},
): Promise<EmulatedLink> {
  const proxy = await startLinkEmulator(target, initial);
  const current: LinkShape = { rateMbps: initial.rateMbps ?? Infinity, delayMs: initial.delayMs ?? 0 };
  let isCut = false;
  return {
    kind: 'userspace',
    name: `proxy:${proxy.port}`,
    url: proxy.url,
    netns: undefined,
    agentHost: '127.0.0.1',
    get current() {
      return { ...current };
    },
    get isCut() {
      return isCut;
    },
    shape(change) {
      proxy.shape(change);
      Object.assign(current, change);
      return Promise.resolve();
    },
    cut() {
      isCut = true;
      proxy.cut();
      return Promise.resolve();
    },
    restore() {
      isCut = false;
      proxy.restore();
      return Promise.resolve();
    },
    traffic: () => Promise.resolve({ toAgentBytes: proxy.stats.downBytes, fromAgentBytes: proxy.stats.upBytes }),
    wrap: (command, args) => ({ command, args: [...args] }),
    close: () => proxy.close(),
    [Symbol.asyncDispose]: () => proxy.close(),
  };
}

/** Creates a link of the given kind. */
export function createEmulatedLink(options: EmulatedLinkOptions): Promise<EmulatedLink> {
  return options.kind === 'kernel'
    ? createKernelLink({
        target: options.target,
        index: options.index,
        ...(options.initial ? { initial: options.initial } : {}),
      })
    : createUserspaceLink(options.target, options.initial);
}
