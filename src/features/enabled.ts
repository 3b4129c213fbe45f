import { BanSharingOptions } from './ban-sharing/options';
import { banSharingFeature } from './ban-sharing/feature';
import { Fail2banFeature } from './feature';

/** The features the props turn on: the one place that knows them all. */
export function enabledFeatures(props: { readonly banSharing?: BanSharingOptions }): Fail2banFeature[] {
  return [...(props.banSharing ? [banSharingFeature(props.banSharing)] : [])];
}
