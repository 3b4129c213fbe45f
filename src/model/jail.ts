import { BanTime, TimeSpan } from './duration';
import { PodLogSource } from './pod-log';

/** Repeat offenders get longer bans: fail2ban's `bantime.increment`, counted from the ban database. */
export interface BanTimeIncrement {
  /** Each further ban lasts `bantime × factor × 2^(earlier bans)`. @default 1 */
  readonly factor?: number;
  /** The longest a ban grows to. @default fail2ban's own (none) */
  readonly maxTime?: TimeSpan;
  /** Count earlier bans in every jail, not only this one. @default false */
  readonly overallJails?: boolean;
}

/**
 * What a ban blocks: `host` drops the address's connections to the node itself (sshd, the API server) in nftables'
 * input hook, as fail2ban's nftables actions do; `host-and-forwarded` drops its packets in the prerouting hook,
 * before k3s forwards them to pods (Traefik, ServiceLB, NodePorts), so services behind the node are covered too.
 */
export type BanScope = 'host' | 'host-and-forwarded';

/** What a jail name may be: a `jail.local` section and part of nftables set names. */
export const JAIL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/** Section names of fail2ban's own: no jail may take them. */
export const RESERVED_SECTIONS = ['DEFAULT', 'INCLUDES', 'KNOWN', 'Definition', 'Init'];

/** A name fail2ban takes as a jail: a jail.local section and nftables set name. */
export function isJailName(name: string): boolean {
  return JAIL_NAME.test(name) && !RESERVED_SECTIONS.includes(name);
}

/** Settings that `[DEFAULT]` and every jail share; a jail's value overrides the default's. */
export interface JailSettings {
  /** Failures within `findTime` that trigger a ban. @default fail2ban's own (5) */
  readonly maxRetry?: number;
  /** Window in which failures are counted. @default fail2ban's own (10m) */
  readonly findTime?: TimeSpan;
  /** How long an address stays banned. @default fail2ban's own (10m) */
  readonly banTime?: BanTime;
  /** Action that bans: the package's batching `nftables-batch`, or one of the image's `action.d` (e.g. fail2ban's own `nftables-multiport`, one process per ban). @default a jail: `[DEFAULT]`'s; `[DEFAULT]`: 'nftables-batch' */
  readonly banAction?: string;
  /** How fail2ban reads logs: `auto`, `pyinotify` or `polling` (the image has no systemd module). @default fail2ban's own (auto) */
  readonly backend?: string;
  /** Addresses and CIDR ranges that are never banned. @default fail2ban's own (none) */
  readonly ignoreIp?: string[];
  /** Ports a ban blocks, as fail2ban writes them (`ssh`, `22,2222`, `6443`). @default fail2ban's own (all ports) */
  readonly port?: string;
  /** Protocols a ban blocks (`tcp`, `udp`, `tcp,udp`). @default fail2ban's own (tcp) */
  readonly protocol?: string;
  /** Longer bans for repeat offenders. @default fail2ban's own (off) */
  readonly banTimeIncrement?: BanTimeIncrement;
}

/** The `[DEFAULT]` section of `jail.local`. */
export interface JailDefaults extends JailSettings {}

/** One jail: which log to watch, with which filter, and how hard to ban. */
export interface JailProps extends JailSettings {
  /** Jail name: the `jail.local` section and the name `fail2ban-client` uses. */
  readonly name: string;
  /** Log files the jail reads, as paths inside the container (see `hostLog()`); a jail has this or `podLogs`. @default none */
  readonly logPath?: string | string[];
  /** The pods' container logs the jail reads, found on each node as pods come and go; a jail has this or `logPath`. @default none */
  readonly podLogs?: PodLogSource;
  /** Filter from `filters/` or fail2ban's stock `filter.d`. @default the stock filter named like the jail */
  readonly filter?: string;
  /** Whether the jail runs. @default true */
  readonly enabled?: boolean;
  /** Create the log files empty on nodes that lack them (fail2ban stops when a jail has no log file). @default false */
  readonly logMayBeMissing?: boolean;
  /** What a ban blocks (needs an nftables banaction). @default 'host' */
  readonly blocks?: BanScope;
}

/** A jail's host log files, as a list (none for a jail on pod logs or a jail the agent holds). */
export function logPathsOf(jail: JailProps): string[] {
  return [jail.logPath ?? []].flat();
}
