import { banSharingFeature } from './ban-sharing/feature';
import { Fail2banFeature } from './feature';
import { k3sTraefikFeature } from './k3s-traefik/feature';
import { metricsFeature } from './metrics/feature';
import { operatorBansFeature } from './operator-bans/feature';
import { podLogsFeature } from './pod-logs/feature';
import { Fail2banProps } from '../resolve/props';

/** The features the props turn on: the one place that knows them all. Operator bans and k3s's Traefik are always on. */
export function enabledFeatures(props: Fail2banProps): Fail2banFeature[] {
  return [
    operatorBansFeature(),
    k3sTraefikFeature(props.k3sTraefik),
    ...(props.banSharing ? [banSharingFeature(props.banSharing)] : []),
    ...(props.jails.some((jail) => jail.podLogs && (jail.enabled ?? true)) ? [podLogsFeature()] : []),
    ...(props.metrics ? [metricsFeature(props.metrics)] : []),
  ];
}
