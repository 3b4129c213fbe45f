import { BanTime, TimeSpan } from './duration';

/** Settings that `[DEFAULT]` and every jail share; a jail's value overrides the default's. */
export interface JailSettings {
  /** Failures within `findTime` that trigger a ban. @default fail2ban's own (5) */
  readonly maxRetry?: number;
  /** Window in which failures are counted. @default fail2ban's own (10m) */
  readonly findTime?: TimeSpan;
  /** How long an address stays banned. @default fail2ban's own (10m) */
  readonly banTime?: BanTime;
  /** Action that bans, from the image's `action.d` (e.g. `nftables-multiport`). @default fail2ban's own */
  readonly banAction?: string;
  /** How fail2ban reads logs: `auto`, `pyinotify` or `polling` (the image has no systemd module). @default fail2ban's own (auto) */
  readonly backend?: string;
  /** Addresses and CIDR ranges that are never banned. @default fail2ban's own (none) */
  readonly ignoreIp?: string[];
  /** Ports a ban blocks, as fail2ban writes them (`ssh`, `22,2222`, `6443`). @default fail2ban's own (all ports) */
  readonly port?: string;
}

/** The `[DEFAULT]` section of `jail.local`. */
export interface JailDefaults extends JailSettings {}

/** One jail: which log to watch, with which filter, and how hard to ban. */
export interface JailProps extends JailSettings {
  /** Jail name: the `jail.local` section and the name `fail2ban-client` uses. */
  readonly name: string;
  /** Log files the jail reads, as paths inside the container (see `hostLog()`). */
  readonly logPath: string | string[];
  /** Filter from `filters/` or fail2ban's stock `filter.d`. @default the stock filter named like the jail */
  readonly filter?: string;
  /** Whether the jail runs. @default true */
  readonly enabled?: boolean;
  /** Create the log files empty on nodes that lack them (fail2ban stops when a jail has no log file). @default false */
  readonly logMayBeMissing?: boolean;
}
