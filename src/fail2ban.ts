import { Construct } from 'constructs';
import { BanManagerAccess } from './k8s/ban-manager';
import { Fail2banConfigMap } from './k8s/config-map';
import { Fail2banDaemonSet } from './k8s/daemon-set';
import { PrivilegedNamespace } from './k8s/namespace';
import { renderDuration } from './model/duration';
import { Fail2banConfigError } from './model/errors';
import { FilterFile, filterFileName, loadFilterIncludes } from './model/filter';
import { renderJailLocal } from './render/jail-local';
import { logPathsOf } from './model/jail';
import { packageActionFiles } from './model/nftables-action';
import { Fail2banProps } from './resolve/props';
import { nodeAgentSettings, ResolvedFail2ban, resolveFail2ban } from './resolve/resolve';
import { fail2banWarnings, validateFail2ban } from './validate/validate';

/**
 * fail2ban on every node of a k3s cluster: a privileged namespace, a ConfigMap with `jail.local` and the filters,
 * and a DaemonSet that rolls its pods whenever that ConfigMap's content changes. The props are resolved (every
 * default once) and validated (every problem at once) before a single object is built; features plug in through
 * `Fail2banFeature` (src/features/).
 */
export class Fail2ban extends Construct {
  /** The props with every default filled in. */
  public readonly config: ResolvedFail2ban;
  /** What synth should tell the user without refusing the configuration. */
  public readonly warnings: string[];
  /** The rendered `jail.local`. */
  public readonly jailLocal: string;
  /** The ConfigMap: `addFile()` ships another file (and rolls the pods when it changes). */
  public readonly configMap: Fail2banConfigMap;
  /** The DaemonSet: `mountHostPath()`, `mountConfigFile()` and the fail2ban container for further changes. */
  public readonly daemonSet: Fail2banDaemonSet;
  /** The ban manager's access, when `banManager` is set. */
  public readonly banManager?: BanManagerAccess;

  constructor(scope: Construct, id: string, props: Fail2banProps) {
    super(scope, id);
    const config = resolveFail2ban(props);
    const problems = validateFail2ban(config);
    if (problems.length > 0) {
      throw new Fail2banConfigError(problems);
    }
    this.config = config;
    this.warnings = fail2banWarnings(config);
    const { namespace, labels } = config;

    new PrivilegedNamespace(this, 'Namespace', { name: namespace, labels });
    if (config.banManager) {
      this.banManager = new BanManagerAccess(this, 'BanManager', { namespace, labels, user: config.banManager.user });
    }
    const additions = config.features.map((feature) => feature.jailLocal?.(config) ?? {});
    this.configMap = new Fail2banConfigMap(this, 'Config', { name: `${config.name}-config`, namespace, labels });
    this.daemonSet = new Fail2banDaemonSet(this, 'DaemonSet', {
      ...config,
      env: { TZ: config.timeZone, F2B_LOG_TARGET: 'STDOUT', F2B_LOG_LEVEL: config.logLevel, F2B_DB_PURGE_AGE: renderDuration(config.dbPurgeAge) },
      configMap: this.configMap,
      nodeAgent: nodeAgentSettings(config, additions),
    });

    this.jailLocal = renderJailLocal(config.defaults, config.jails, additions);
    this.addConfigFile('jail.local', this.jailLocal, '/data/jail.d/jail.local');
    packageActionFiles().forEach((file) => this.addConfigFile(file.name, file.content, `/data/action.d/${file.name}`));
    config.filters.forEach((filter) => this.addFilter(filter));
    // What filters include (cri.inc for pod-log filters): fail2ban skips a missing include without a word.
    loadFilterIncludes().forEach((file) => this.addConfigFile(file.fileName, file.content, `/data/filter.d/${file.fileName}`));
    const optionalLogs = config.jails.filter((jail) => (jail.enabled ?? true) && jail.logMayBeMissing).flatMap(logPathsOf);
    [...new Set(optionalLogs)].sort().forEach((containerPath) => this.daemonSet.addOptionalHostLog(containerPath));
    config.hostPathMounts.forEach((mount) => this.daemonSet.mountHostPath(mount));
    const jails = [...config.jails, ...additions.flatMap((addition) => addition.jails ?? [])].filter((jail) => jail.enabled ?? true).map((jail) => jail.name);
    for (const feature of config.features) {
      feature.build?.({ scope: this, daemonSet: this.daemonSet, configMap: this.configMap, banManager: this.banManager, jails }, config);
    }
  }

  /** The DaemonSet, as Flux health checks and other tools refer to it. */
  public get daemonSetRef(): { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly namespace: string } {
    return { apiVersion: 'apps/v1', kind: 'DaemonSet', name: this.config.name, namespace: this.config.namespace };
  }

  /** Ships a file in the ConfigMap and mounts it into the fail2ban container by subPath. */
  public addConfigFile(key: string, content: string, containerPath: string): void {
    this.configMap.addFile(key, content);
    this.daemonSet.mountConfigFile(key, containerPath);
  }

  /** Ships a filter and mounts it where the image links filters from (`/data/filter.d`). */
  public addFilter(filter: FilterFile): void {
    this.addConfigFile(filterFileName(filter), filter.content, `/data/filter.d/${filterFileName(filter)}`);
  }
}
