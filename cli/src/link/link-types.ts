// What every emulated link offers, whichever way it shapes: the demo and the tests pick one and treat them alike.

/** Link properties applied in each direction. */
export interface LinkShape {
  /** Bandwidth per direction in Mbit/s; Infinity means unshaped. */
  rateMbps: number;
  /** One-way delay in milliseconds added to every chunk (so RTT grows by twice this). */
  delayMs: number;
}

/** How a link is emulated: kernel shaping in a network namespace, a userspace proxy, or the best available. */
export const LinkMode = {
  Kernel: 'kernel',
  Userspace: 'userspace',
  Auto: 'auto',
} as const;
/** One of {@link LinkMode}. */
export type LinkMode = (typeof LinkMode)[keyof typeof LinkMode];
/** The two concrete kinds of link. */
export type LinkKind = Exclude<LinkMode, 'auto'>;

/** Byte counters of a link, per direction. */
export interface LinkTraffic {
  readonly toAgentBytes: number;
  readonly fromAgentBytes: number;
}

/** An emulated link between one agent and NATS, controllable at runtime. */
export interface EmulatedLink extends AsyncDisposable {
  readonly kind: LinkKind;
  /** A short name for logs (the namespace name for kernel links). */
  readonly name: string;
  /** The NATS URL the agent must dial: the far end of the link. */
  readonly url: string;
  /** Network namespace the agent must run in, or undefined when it runs in the host's. */
  readonly netns: string | undefined;
  /** Address the agent's local API binds, reachable from this process without crossing the shaped link. */
  readonly agentHost: string;
  /** The shape in force. */
  readonly current: Readonly<LinkShape>;
  readonly isCut: boolean;
  /** Changes rate and/or delay from now on. */
  shape(change: Partial<LinkShape>): Promise<void>;
  /** Cuts the link: open connections break and new ones fail until `restore()`. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  /**
   * Bytes that crossed the link so far, per direction: toward the agent (downloads, replies) and from it. The kernel
   * link reads the host veth's counters, so these are bytes on the shaped wire, not bytes handed to a socket.
   */
  traffic(): Promise<LinkTraffic>;
  /** Command and arguments that run `command args` on the agent's side of the link. */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] };
  /** Removes the link (namespace, interfaces, proxy). Idempotent. */
  close(): Promise<void>;
}
