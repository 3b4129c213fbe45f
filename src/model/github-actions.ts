import { celString } from './cel';

/**
 * The one GitHub Actions workflow that may manage bans, as the Kubernetes API server authenticates it: GitHub's OIDC
 * token for the job (short-lived, issued per run), accepted through Kubernetes structured authentication only for
 * this repository's branch, workflow and environment. No credential is stored anywhere.
 */
export interface GithubWorkflowIdentity {
  /** `owner/name` of the repository whose workflow manages bans. */
  readonly repository: string;
  /** The workflow file. @default '.github/workflows/manage-fail2ban.yml' */
  readonly workflow?: string;
  /** The only branch whose runs are accepted. @default 'main' */
  readonly branch?: string;
  /** The GitHub environment the job runs in; limit it to the branch in the repository's settings. @default 'fail2ban-bans' */
  readonly environment?: string;
  /** The audience the workflow asks its token for. @default 'k3s-fail2ban' */
  readonly audience?: string;
}

/** A repository no token can come from (GitHub user names have no '_'): synth warns while it is set. */
export const PLACEHOLDER_REPOSITORY = 'set_your_github_user/repository';

/** GitHub's OIDC issuer for Actions. */
export const GITHUB_ACTIONS_ISSUER = 'https://token.actions.githubusercontent.com';

/** {@link GithubWorkflowIdentity} with its defaults. */
export type ResolvedGithubWorkflow = Required<GithubWorkflowIdentity>;

export function resolveGithubWorkflow(identity: GithubWorkflowIdentity): ResolvedGithubWorkflow {
  return {
    repository: identity.repository,
    workflow: identity.workflow ?? '.github/workflows/manage-fail2ban.yml',
    branch: identity.branch ?? 'main',
    environment: identity.environment ?? 'fail2ban-bans',
    audience: identity.audience ?? 'k3s-fail2ban',
  };
}

/**
 * The claims a token must carry, as CEL over `claims`: each rule refuses, with its message, a token of a fork or
 * another repository, of another branch, workflow or environment, of another event, or from a GitHub-hosted runner.
 */
export function githubClaimRules(workflow: ResolvedGithubWorkflow): Array<{ expression: string; message: string }> {
  const ref = `refs/heads/${workflow.branch}`;
  // A token without the claim fails its rule (has()), rather than failing the evaluation.
  const claim = (name: string, value: string) => `has(claims.${name}) && claims.${name} == ${celString(value)}`;
  return [
    { expression: claim('repository', workflow.repository), message: `only the repository ${workflow.repository}` },
    { expression: claim('ref', ref), message: `only runs of ${ref}` },
    { expression: claim('workflow_ref', `${workflow.repository}/${workflow.workflow}@${ref}`), message: `only the workflow ${workflow.workflow} of ${ref}` },
    { expression: claim('environment', workflow.environment), message: `only jobs in the environment ${workflow.environment}` },
    { expression: claim('event_name', 'workflow_dispatch'), message: 'only runs started by hand (workflow_dispatch)' },
    { expression: claim('runner_environment', 'self-hosted'), message: 'only the self-hosted runner' },
  ];
}

/** The user name the API server gives an accepted token, as CEL over `claims`, and the name RBAC binds. */
export const GITHUB_USERNAME_EXPRESSION = "'github-actions:' + claims.sub";

/** The user RBAC binds: `github-actions:` and the token's subject for a job in the environment. */
export function githubActionsUser(workflow: ResolvedGithubWorkflow): string {
  return `github-actions:repo:${workflow.repository}:environment:${workflow.environment}`;
}

/**
 * The API server's authentication configuration (`--authentication-config`, Kubernetes ≥ 1.30, structured
 * authentication) that accepts the workflow's tokens and nothing else from GitHub.
 */
export function githubAuthenticationConfig(workflow: ResolvedGithubWorkflow): object {
  return {
    apiVersion: 'apiserver.config.k8s.io/v1beta1',
    kind: 'AuthenticationConfiguration',
    jwt: [
      {
        issuer: { url: GITHUB_ACTIONS_ISSUER, audiences: [workflow.audience], audienceMatchPolicy: 'MatchAny' },
        claimValidationRules: githubClaimRules(workflow),
        claimMappings: { username: { expression: GITHUB_USERNAME_EXPRESSION } },
        userValidationRules: [{ expression: "!user.username.startsWith('system:')", message: 'no system: user names' }],
      },
    ],
  };
}
