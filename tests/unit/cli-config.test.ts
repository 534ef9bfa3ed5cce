// deployctl's contexts: the file's shape, set-context and use-context, and which server,
// token and namespace a run uses (flags, then --context, then the environment, then the
// current context).
import t from 'tap';
import YAML from 'yaml';
import { configPath, kubeconfig, parseConfig, renderConfig, resolveSettings, setContext, useContext, type ConfigFile } from '../../cli/config.js';

t.test('the file round-trips; bad files are named', async (t) => {
  const cfg: ConfigFile = { 'current-context': 'dev', contexts: [{ name: 'dev', server: 'http://a:1', token: 't', namespace: 'n' }] };
  t.same(parseConfig(renderConfig(cfg)), cfg);
  t.same(parseConfig(''), { contexts: [] });
  t.throws(() => parseConfig('- a\n', '/x/config.yaml'), { message: /\/x\/config\.yaml: expected a mapping/ });
  t.throws(() => parseConfig('contexts: [{server: x}]\n', 'c'), { message: /contexts\[0\] needs a name/ });
});

t.test('the path: $DEPLOYCTL_CONFIG, else ~/.config/deployctl/config.yaml', async (t) => {
  t.equal(configPath({ DEPLOYCTL_CONFIG: '/tmp/c.yaml', HOME: '/h' }), '/tmp/c.yaml');
  t.equal(configPath({ HOME: '/h' }), '/h/.config/deployctl/config.yaml');
});

t.test('set-context creates, then changes only the fields given; the first becomes current', async (t) => {
  let cfg = setContext({ contexts: [] }, 'dev', { server: 'http://a:1', token: 't1' });
  t.equal(cfg['current-context'], 'dev');
  cfg = setContext(cfg, 'prod', { server: 'https://p', namespace: 'web' });
  cfg = setContext(cfg, 'dev', { namespace: 'team-a' });
  t.same(cfg.contexts, [
    { name: 'dev', server: 'http://a:1', token: 't1', namespace: 'team-a' },
    { name: 'prod', server: 'https://p', namespace: 'web' },
  ]);
  t.equal(cfg['current-context'], 'dev');
  t.equal(useContext(cfg, 'prod')['current-context'], 'prod');
  t.throws(() => useContext(cfg, 'nope'), { message: /no context exists with the name: "nope" \(contexts: dev, prod\)/ });
  t.throws(() => setContext(cfg, 'x', { server: 'ftp://x' }), { message: /invalid server/ });
  t.throws(() => setContext(cfg, 'bad name', {}), { message: /invalid context name/ });
});

t.test('what a run uses', async (t) => {
  const cfg: ConfigFile = {
    'current-context': 'dev',
    contexts: [
      { name: 'dev', server: 'http://dev:1', token: 'dev-token', namespace: 'team-a' },
      { name: 'prod', server: 'http://prod:1', token: 'prod-token' },
    ],
  };
  t.same(resolveSettings(cfg, {}, {}), { server: 'http://dev:1', token: 'dev-token', namespace: 'team-a', context: 'dev' }, 'the current context');
  t.same(resolveSettings(cfg, {}, { DEPLOYER_SERVER: 'http://env:1', DEPLOYER_TOKEN: 'env-token' }), { server: 'http://env:1', token: 'env-token', namespace: 'team-a', context: 'dev' }, 'the environment over the current context');
  t.same(resolveSettings(cfg, { context: 'prod' }, { DEPLOYER_SERVER: 'http://env:1' }), { server: 'http://prod:1', token: 'prod-token', namespace: 'default', context: 'prod' }, 'an explicit --context over the environment');
  t.same(resolveSettings(cfg, { server: 'http://flag:1', token: 'f', namespace: 'x' }, { DEPLOYER_SERVER: 'http://env:1' }), { server: 'http://flag:1', token: 'f', namespace: 'x', context: 'dev' }, 'flags over everything');
  t.same(resolveSettings({ contexts: [] }, {}, {}), { server: 'http://127.0.0.1:8080', token: undefined, namespace: 'default', context: undefined }, 'defaults');
  t.throws(() => resolveSettings(cfg, { context: 'nope' }, {}), { message: /context "nope" does not exist/ });
});

t.test('a kubeconfig for kubectl: cluster server, user token, context namespace', async (t) => {
  const k = YAML.parse(kubeconfig({ server: 'http://d:1', token: 'tok', namespace: 'team-a', context: 'dev' }));
  t.same(k.clusters, [{ name: 'dev', cluster: { server: 'http://d:1' } }]);
  t.same(k.users, [{ name: 'dev', user: { token: 'tok' } }]);
  t.same(k.contexts, [{ name: 'dev', context: { cluster: 'dev', user: 'dev', namespace: 'team-a' } }]);
  t.equal(k['current-context'], 'dev');
  t.equal(k.kind, 'Config');
});

t.test("a kubeconfig through deployer's HTTPS endpoint carries its certificate; without one it says why kubectl will fail", async (t) => {
  const s = { server: 'http://d:1', token: 'tok', namespace: 'team-a', context: 'dev' };
  const text = kubeconfig(s, { server: 'https://d:6443', certificateAuthorityData: 'Q0E=' });
  t.notMatch(text, /^#/, 'no warning');
  t.same(YAML.parse(text).clusters, [{ name: 'dev', cluster: { server: 'https://d:6443', 'certificate-authority-data': 'Q0E=' } }]);
  t.match(kubeconfig(s), /^# kubectl sends the token only over https/);
});
