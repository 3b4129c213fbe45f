// The library's public API: the construct and its props, the jail model, the features, the building blocks a user
// extends, and the synth command for a `main.ts` of one's own. The CLIs' internals are not part of it.
export * from './fail2ban';
export * from './resolve/props';
export * from './resolve/resolve';
export * from './validate/validate';
export * from './features/feature';
export * from './features/ban-sharing/options';
export * from './model/cluster';
export * from './model/duration';
export * from './model/errors';
export * from './model/filter';
export * from './model/ip';
export * from './model/jail';
export * from './model/k3s-audit';
export * from './model/log-path';
export * from './render/jail-local';
export * from './k8s/ban-manager';
export * from './k8s/config-map';
export * from './k8s/daemon-set';
export * from './k8s/labels';
export * from './k8s/namespace';
export * from './flux/kustomization';
export * from './outputs/manifests';
export * from './synth/cli';
