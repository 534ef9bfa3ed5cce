// resources/selectors.ts: label and field selectors.
import t from 'tap';
import {
  ApiError,
  fieldValue,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  supportedFields,
  type LabelRequirement,
} from '../../resources/index.js';
import { apiError } from '../helpers/resources.js';


const req = (key: string, op: LabelRequirement['op'], values: string[] = []): LabelRequirement => ({ key, op, values });

t.test('parseLabelSelector: each operator', async (t) => {
  t.same(parseLabelSelector('app=blog'), [req('app', 'eq', ['blog'])], '=');
  t.same(parseLabelSelector('app==blog'), [req('app', 'eq', ['blog'])], '==');
  t.same(parseLabelSelector('app!=blog'), [req('app', 'neq', ['blog'])], '!=');
  t.same(parseLabelSelector('env in (prod,staging)'), [req('env', 'in', ['prod', 'staging'])], 'in');
  t.same(parseLabelSelector('env notin (dev)'), [req('env', 'notin', ['dev'])], 'notin');
  t.same(parseLabelSelector('tier'), [req('tier', 'exists')], 'key');
  t.same(parseLabelSelector('!tier'), [req('tier', 'notexists')], '!key');
  t.same(parseLabelSelector('app='), [req('app', 'eq', [''])], 'an empty value is a value');
  t.same(parseLabelSelector('deployer.dev/service=site'), [req('deployer.dev/service', 'eq', ['site'])], 'prefixed key');
  t.same(parseLabelSelector(undefined), [], 'missing selector matches everything');
  t.same(parseLabelSelector(''), [], 'empty selector');
  t.same(parseLabelSelector('   '), [], 'blank selector');
});

t.test('parseLabelSelector: combinations and whitespace', async (t) => {
  t.same(parseLabelSelector('app=blog,env in (prod,staging),!legacy,tier,version!=1,zone notin (a,b)'), [
    req('app', 'eq', ['blog']),
    req('env', 'in', ['prod', 'staging']),
    req('legacy', 'notexists'),
    req('tier', 'exists'),
    req('version', 'neq', ['1']),
    req('zone', 'notin', ['a', 'b']),
  ]);
  t.same(parseLabelSelector(' app = blog , env in ( prod , staging ) , ! legacy , tier , k == v '), [
    req('app', 'eq', ['blog']),
    req('env', 'in', ['prod', 'staging']),
    req('legacy', 'notexists'),
    req('tier', 'exists'),
    req('k', 'eq', ['v']),
  ]);
  t.same(parseLabelSelector('env in(prod)'), [req('env', 'in', ['prod'])], 'no space before the parenthesis');
});

t.test('parseLabelSelector: invalid selectors are 400 naming the selector', async (t) => {
  const cases: [string, RegExp][] = [
    ['-app=blog', /invalid label key "-app"/],
    ['Example.com/app=blog', /invalid label key/],
    ['app=-blog', /invalid label value "-blog"/],
    [`app=${'v'.repeat(64)}`, /invalid label value/],
    ['env in ()', /"in" needs at least one value/],
    ['env notin ( )', /"notin" needs at least one value/],
    ['env in (a,-b)', /invalid label value "-b"/],
    ['a=b=c', /cannot parse "a=b=c"/],
    ['(', /cannot parse "\("/],
    ['env in (a', /cannot parse/],
    ['a b', /cannot parse "a b"/],
    ['app=blog,', /empty requirement/],
    [',app=blog', /empty requirement/],
    ['app=blog,,tier', /empty requirement/],
    ['a = = b', /cannot parse/],
    ['!', /cannot parse/],
  ];
  for (const [selector, message] of cases) {
    const err = apiError(() => parseLabelSelector(selector));
    t.equal(err.code, 400, `${selector}: code`);
    t.equal(err.reason, 'BadRequest', `${selector}: reason`);
    t.match(err.message, `invalid label selector "${selector}"`, `${selector}: the message names the selector`);
    t.match(err.message, message, `${selector}: the message names the problem`);
  }
  const long = apiError(() => parseLabelSelector(`a=${'b,a='.repeat(1100)}b`));
  t.equal(long.code, 400, 'a selector over 4096 characters');
});

t.test('parseLabelSelector: a label key validation would reject is rejected', async (t) => {
  // metadata.labels keys have a name part of at most 63 characters (validation.ts); a
  // selector on a longer key can match nothing and Kubernetes rejects it.
  const selector = `${'k'.repeat(64)}=v`;
  const err = apiError(() => parseLabelSelector(selector));
  t.equal(err.code, 400);
  t.match(err.message, /invalid label key/);
});

t.test('matchLabels truth table', async (t) => {
  const labels = { app: 'blog', env: 'prod', empty: '' };
  const table: [string, Record<string, string> | undefined, boolean][] = [
    ['app=blog', labels, true],
    ['app=shop', labels, false],
    ['app=blog', undefined, false],
    ['app!=shop', labels, true],
    ['app!=blog', labels, false],
    ['missing!=x', labels, true],
    ['env in (prod,staging)', labels, true],
    ['env in (dev,staging)', labels, false],
    ['missing in (prod)', labels, false],
    ['env notin (dev)', labels, true],
    ['env notin (prod)', labels, false],
    ['missing notin (prod)', labels, true],
    ['app', labels, true],
    ['missing', labels, false],
    ['empty', labels, true],
    ['!missing', labels, true],
    ['!app', labels, false],
    ['!empty', labels, false],
    ['!app', undefined, true],
    ['empty=', labels, true],
    ['missing=', labels, false],
    ['app=blog,env=prod', labels, true],
    ['app=blog,env=dev', labels, false],
    ['', labels, true],
    ['', undefined, true],
  ];
  for (const [selector, l, want] of table)
    t.equal(matchLabels(parseLabelSelector(selector), l), want, `${JSON.stringify(selector)} on ${JSON.stringify(l)}`);
  t.equal(matchLabels([req('toString', 'exists')], {}), false, 'inherited properties are not labels');
});

t.test('parseFieldSelector: supported fields per kind', async (t) => {
  t.same(parseFieldSelector('metadata.name=blog', 'ProjectServer'), [{ field: 'metadata.name', op: 'eq', value: 'blog' }]);
  t.same(parseFieldSelector('metadata.namespace!=default, metadata.name==blog', 'Route'), [
    { field: 'metadata.namespace', op: 'neq', value: 'default' },
    { field: 'metadata.name', op: 'eq', value: 'blog' },
  ]);
  t.same(parseFieldSelector('involvedObject.name=blog,type=Warning', 'Event'), [
    { field: 'involvedObject.name', op: 'eq', value: 'blog' },
    { field: 'type', op: 'eq', value: 'Warning' },
  ]);
  t.same(parseFieldSelector('source=projectserver', 'Event'), [{ field: 'source.component', op: 'eq', value: 'projectserver' }], 'source means source.component');
  t.same(parseFieldSelector(undefined, 'Event'), []);
  t.same(parseFieldSelector(' ', 'Event'), []);
  t.same(parseFieldSelector('metadata.name=', 'Deployment'), [{ field: 'metadata.name', op: 'eq', value: '' }]);
  t.ok(supportedFields('Event').includes('involvedObject.uid'));
  t.same(supportedFields('Deployment'), ['metadata.name', 'metadata.namespace']);
});

t.test('parseFieldSelector: unsupported or malformed is 400', async (t) => {
  const unsupported: [string, string][] = [
    ['involvedObject.name=blog', 'ProjectServer'],
    ['reason=Started', 'Deployment'],
    ['spec.image=nginx', 'ProjectServer'],
    ['status.phase=active', 'Deployment'],
    ['metadata.uid=x', 'Event'],
  ];
  for (const [selector, kind] of unsupported) {
    const err = apiError(() => parseFieldSelector(selector, kind));
    t.equal(err.code, 400, `${selector} on ${kind}`);
    t.match(err.message, /field label not supported/);
    t.match(err.message, `"${selector.split(/!?=/)[0]}"`, 'the message names the field');
  }
  for (const selector of ['metadata.name', 'metadata.name=a,', '=blog', '1=2']) {
    const err = apiError(() => parseFieldSelector(selector, 'Route'));
    t.equal(err.code, 400, `malformed ${JSON.stringify(selector)}`);
    t.match(err.message, `invalid field selector "${selector}"`);
  }
});

t.test('matchFields', async (t) => {
  const ev = {
    metadata: { name: 'blog-1', namespace: 'default' },
    involvedObject: { kind: 'ProjectServer', name: 'blog', uid: 'u-1' },
    type: 'Warning',
    source: { component: 'projectserver' },
  };
  const m = (selector: string) => matchFields(parseFieldSelector(selector, 'Event'), ev);
  t.equal(m('metadata.name=blog-1'), true);
  t.equal(m('metadata.name=blog-2'), false);
  t.equal(m('metadata.namespace!=default'), false);
  t.equal(m('metadata.namespace!=other'), true);
  t.equal(m('involvedObject.name=blog,involvedObject.kind=ProjectServer'), true);
  t.equal(m('involvedObject.name=blog,type=Normal'), false);
  t.equal(m('source=projectserver'), true);
  t.equal(m('reason='), true, 'an absent field equals the empty string');
  t.equal(m('reason!='), false);
  t.equal(m(''), true, 'no requirement matches everything');
  t.equal(fieldValue(ev, 'involvedObject.uid'), 'u-1');
  t.equal(fieldValue(ev, 'involvedObject.uid.deeper'), '');
  t.equal(fieldValue({ count: 3 }, 'count'), '3');
});
