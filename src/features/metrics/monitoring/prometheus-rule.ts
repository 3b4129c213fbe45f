import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { AlertRule } from './alerts';

/** The name of the rule group: what Prometheus's UI (Alerts, Rules) lists the package's alerts under. */
export const RULE_GROUP = 'fail2ban';

/** A rule as a Prometheus rules file (and a PrometheusRule's `spec.groups[].rules`) writes it. */
export function ruleOf(rule: AlertRule): Record<string, unknown> {
  return {
    alert: rule.alert,
    expr: rule.expr,
    ...(rule.for === undefined ? {} : { for: rule.for }),
    labels: { severity: rule.severity },
    annotations: { summary: rule.summary, description: rule.description, runbook: rule.runbook },
  };
}

/** Props of {@link Fail2banPrometheusRule}. */
export interface Fail2banPrometheusRuleProps {
  readonly name: string;
  readonly namespace: string;
  /** The package's labels and the stack's (`release: …`): Prometheus's ruleSelector picks the object by them. */
  readonly labels: Readonly<Record<string, string>>;
  /** The alerts ({@link alertRules}). */
  readonly rules: readonly AlertRule[];
}

/**
 * A `PrometheusRule` (monitoring.coreos.com/v1) with the package's alerts in one group. Its `spec` is a Prometheus
 * rules file as it stands, which is how the tests hand it to promtool.
 */
export class Fail2banPrometheusRule extends Construct {
  constructor(scope: Construct, id: string, props: Fail2banPrometheusRuleProps) {
    super(scope, id);
    new ApiObject(this, 'Resource', {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PrometheusRule',
      metadata: { name: props.name, namespace: props.namespace, labels: { ...props.labels } },
      spec: { groups: [{ name: RULE_GROUP, rules: props.rules.map(ruleOf) }] },
    });
  }
}
