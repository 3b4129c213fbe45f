import { BanSharingOptions } from './ban-sharing/options';
import { banSharingFeature } from './ban-sharing/feature';
import { Fail2banFeature } from './feature';
import { operatorBansFeature } from './operator-bans/feature';

/** The features the props turn on: the one place that knows them all. Operator bans are always on. */
export function enabledFeatures(props: { readonly banSharing?: BanSharingOptions }): Fail2banFeature[] {
  return [operatorBansFeature(), ...(props.banSharing ? [banSharingFeature(props.banSharing)] : [])];
}
