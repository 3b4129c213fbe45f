import { githubActionsUser, githubAuthenticationConfig, githubClaimRules, GITHUB_ACTIONS_ISSUER, GITHUB_USERNAME_EXPRESSION, resolveGithubWorkflow } from '../src/model/github-actions';
import { CelEvaluator } from './harness/cel-evaluator';
import { FIXTURE } from './fixture';
import { parseDocs, synth } from './helpers';

// GIVEN the workflow that may manage bans (the fixture's repository), WHEN GitHub's OIDC token of a job reaches the
// API server, THEN the claim rules of the generated AuthenticationConfiguration accept that workflow's runs on main
// in its environment, and nothing else: evaluated with the CEL evaluator the ledger's rules are tested with.
const workflow = resolveGithubWorkflow({ repository: 'example-user/homelab' });
const rules = githubClaimRules(workflow);
const cel = new CelEvaluator();
beforeAll(() => cel.start());
afterAll(() => cel.stop());

/** The claims of a token GitHub issues to a run of the managing workflow, changed by `changes`. */
function token(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: GITHUB_ACTIONS_ISSUER,
    aud: 'k3s-fail2ban',
    sub: 'repo:example-user/homelab:environment:fail2ban-bans',
    repository: 'example-user/homelab',
    repository_owner: 'example-user',
    ref: 'refs/heads/main',
    workflow_ref: 'example-user/homelab/.github/workflows/manage-fail2ban.yml@refs/heads/main',
    environment: 'fail2ban-bans',
    event_name: 'workflow_dispatch',
    runner_environment: 'self-hosted',
    ...changes,
  };
  // A claim set to undefined is one the token does not carry.
  return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
}

/** The messages of the rules a token's claims break; none when the API server accepts it. */
async function refusals(claims: Record<string, unknown>): Promise<string[]> {
  const results = await cel.evaluate(rules.map((rule) => ({ expression: rule.expression, context: { claims } })));
  results.forEach((result) => expect(result.error).toBeUndefined());
  return rules.filter((_, i) => results[i].value !== true).map((rule) => rule.message);
}

test("the managing workflow's run on main, in its environment, is accepted as the user RBAC binds", async () => {
  expect(await refusals(token())).toEqual([]);
  const [username] = await cel.evaluate([{ expression: GITHUB_USERNAME_EXPRESSION, context: { claims: token() } }]);
  expect(username.value).toBe(githubActionsUser(workflow));
});

test.each([
  ["a fork's run", { repository: 'attacker/homelab', repository_owner: 'attacker', sub: 'repo:attacker/homelab:environment:fail2ban-bans', workflow_ref: 'attacker/homelab/.github/workflows/manage-fail2ban.yml@refs/heads/main' }, ['only the repository example-user/homelab', 'only the workflow .github/workflows/manage-fail2ban.yml of refs/heads/main']],
  ['a run of another branch', { ref: 'refs/heads/feature', workflow_ref: 'example-user/homelab/.github/workflows/manage-fail2ban.yml@refs/heads/feature' }, ['only runs of refs/heads/main', 'only the workflow .github/workflows/manage-fail2ban.yml of refs/heads/main']],
  ['another workflow of main', { workflow_ref: 'example-user/homelab/.github/workflows/ci.yml@refs/heads/main' }, ['only the workflow .github/workflows/manage-fail2ban.yml of refs/heads/main']],
  ['a job outside the environment', { environment: undefined, sub: 'repo:example-user/homelab:ref:refs/heads/main' }, ['only jobs in the environment fail2ban-bans']],
  ['a job in another environment', { environment: 'staging', sub: 'repo:example-user/homelab:environment:staging' }, ['only jobs in the environment fail2ban-bans']],
  ['a run on a pull request', { event_name: 'pull_request', ref: 'refs/pull/7/merge' }, ['only runs of refs/heads/main', 'only runs started by hand (workflow_dispatch)']],
  ["a run on GitHub's own runners", { runner_environment: 'github-hosted' }, ['only the self-hosted runner']],
])('%s is refused', async (_, changes, broken) => {
  expect(await refusals(token(changes))).toEqual(broken);
});

test('the AuthenticationConfiguration trusts GitHub Actions for the audience only, and maps no system: user', () => {
  const config = githubAuthenticationConfig(workflow) as any;
  expect(config).toMatchObject({ apiVersion: 'apiserver.config.k8s.io/v1beta1', kind: 'AuthenticationConfiguration' });
  expect(config.jwt).toHaveLength(1);
  expect(config.jwt[0].issuer).toEqual({ url: GITHUB_ACTIONS_ISSUER, audiences: ['k3s-fail2ban'], audienceMatchPolicy: 'MatchAny' });
  expect(config.jwt[0].claimValidationRules).toEqual(rules);
  expect(config.jwt[0].userValidationRules).toEqual([{ expression: "!user.username.startsWith('system:')", message: 'no system: user names' }]);
});

test('the ban manager is bound to that user alone: no ServiceAccount of its own, no token Secret', () => {
  const docs = Object.values(synth()).flatMap(parseDocs);
  expect(docs.filter((o) => o.kind === 'Secret')).toEqual([]);
  const subject = { kind: 'User', name: githubActionsUser(resolveGithubWorkflow(FIXTURE.banManager!.github)), apiGroup: 'rbac.authorization.k8s.io' };
  const bindings = docs.filter((o) => o.kind.endsWith('RoleBinding') && o.roleRef.name === 'fail2ban-ban-manager');
  expect(bindings.map((binding) => binding.subjects)).toEqual([[subject]]);
  // The one ServiceAccount is the node agents', bound to nothing of the ban manager's.
  expect(docs.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name)).toEqual(['fail2ban']);
});
