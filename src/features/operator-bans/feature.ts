import { KubeResourceQuota, KubeRole, KubeRoleBinding, Quantity } from 'cdk8s-plus-28/lib/imports/k8s';
import * as kplus from 'cdk8s-plus-28';
import { Fail2banFeature, ResolvedCore } from '../feature';
import { isJailName, JAIL_NAME, JailProps } from '../../model/jail';
import { NodeReports } from './node-reports';
import { operatorJail, operatorJailName } from './operator-jails';
import { OperatorBanDefinition } from './orders';

/**
 * `OperatorBan` objects the namespace may hold (a ResourceQuota): a large block list for a homelab, and few enough
 * that each node's report, which names every order, stays far below the API server's object size limit.
 */
const MAX_ORDERS = 2_000;

/** An object name's part: lower-case letters, digits and '-'. */
const NAME_PART = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function enabledJails(config: ResolvedCore): JailProps[] {
  return config.jails.filter((jail) => jail.enabled ?? true);
}

function validateOrders(config: ResolvedCore): string[] {
  const taken = new Set(config.jails.map((jail) => jail.name));
  // A name fail2ban cannot take is refused by the core checks already.
  return enabledJails(config).filter((jail) => isJailName(jail.name)).flatMap((jail) => [
    ...(NAME_PART.test(jail.name)
      ? []
      : [`jail "${jail.name}": its name starts the names of operator bans (OperatorBan objects), which must be lower-case letters, digits and '-'. Fix: rename the jail, e.g. "${jail.name.toLowerCase().replace(/[^a-z0-9-]/g, '-')}".`]),
    ...(taken.has(operatorJailName(jail.name)) || !JAIL_NAME.test(operatorJailName(jail.name))
      ? [`jail "${jail.name}" cannot get its operator jail "${operatorJailName(jail.name)}" (taken, or longer than 32 characters). Fix: rename the jail.`]
      : []),
  ]);
}

/**
 * Bans and unbans through the Kubernetes API (docs/operator-bans.md): operators write `OperatorBan` objects (with
 * `npm run bans`, kubectl, or Flux from git); every node's agent applies them to the jails' operator jails and reports
 * in its `Fail2banNode`. Always on: it is the only way the ban manager changes bans.
 */
export function operatorBansFeature(): Fail2banFeature {
  return {
    name: 'operatorBans',
    validate: validateOrders,
    jailLocal: (config) => ({ jails: enabledJails(config).map(operatorJail) }),
    build: ({ scope, daemonSet, banManager }, config) => {
      const { namespace, apiGroup: group, labels } = config;
      const jails = enabledJails(config);
      new OperatorBanDefinition(scope, 'OperatorBans', {
        group,
        labels,
        jails: jails.map((jail) => jail.name),
        neverBan: config.neverBan,
        jailNeverBan: Object.fromEntries(jails.map((jail) => [jail.name, jail.ignoreIp ?? []])),
      });
      const serviceAccountName = daemonSet.serviceAccountName;
      new NodeReports(scope, 'NodeReports', { group, namespace, labels, serviceAccountName });
      const role = `${serviceAccountName}-operator-bans`;
      new KubeRole(scope, 'OperatorBansRole', {
        metadata: { name: role, namespace, labels },
        rules: [
          { apiGroups: [group], resources: ['operatorbans'], verbs: ['get', 'list', 'watch'] },
          // Only its own node's object: the admission policy checks the name against the token's node.
          { apiGroups: [group], resources: ['fail2bannodes'], verbs: ['get', 'create', 'update'] },
        ],
      });
      new KubeRoleBinding(scope, 'OperatorBansRoleBinding', {
        metadata: { name: role, namespace, labels },
        subjects: [{ kind: 'ServiceAccount', name: serviceAccountName, namespace }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
      });
      new KubeResourceQuota(scope, 'OperatorBansQuota', {
        metadata: { name: role, namespace, labels },
        spec: { hard: { [`count/operatorbans.${group}`]: Quantity.fromNumber(MAX_ORDERS) } },
      });
      daemonSet.agent.env.addVariable('OPERATOR_JAILS', kplus.EnvValue.fromValue(JSON.stringify(Object.fromEntries(jails.map((jail) => [jail.name, operatorJailName(jail.name)])))));
      banManager?.addRule({ apiGroups: [group], resources: ['operatorbans'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'] });
      banManager?.addRule({ apiGroups: [group], resources: ['fail2bannodes'], verbs: ['get', 'list'] });
    },
    bans: (config) => ({ operatorJails: Object.fromEntries(enabledJails(config).map((jail) => [jail.name, operatorJailName(jail.name)])) }),
  };
}
