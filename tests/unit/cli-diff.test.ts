// deployctl diff: the unified diff and what is left out of the compared objects.
import t from 'tap';
import { forDiff, toYaml, unifiedDiff } from '../../cli/diff.js';

t.test('equal texts give no diff', async (t) => {
  t.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
});

t.test('a change in the middle: one hunk with three lines of context', async (t) => {
  const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].join('\n') + '\n';
  const b = a.replace('5\n', 'five\n');
  t.equal(unifiedDiff(a, b, 'live', 'merged'), ['--- live', '+++ merged', '@@ -2,7 +2,7 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ''].join('\n'));
});

t.test('far-apart changes make two hunks; a new object diffs against nothing', async (t) => {
  const a = Array.from({ length: 20 }, (_, i) => String(i)).join('\n') + '\n';
  const b = a.replace('1\n', 'one\n').replace('18\n', 'eighteen\n');
  t.equal(unifiedDiff(a, b, 'a', 'b').match(/^@@/gm)!.length, 2);
  t.equal(unifiedDiff('', 'x: 1\n', '/dev/null', 'b'), '--- /dev/null\n+++ b\n@@ -0,0 +1,1 @@\n+x: 1\n');
});

t.test('forDiff drops resourceVersion, generation and managedFields, and sorts keys', async (t) => {
  const live = { metadata: { resourceVersion: '7', generation: 2, name: 'a', managedFields: [] }, kind: 'Route', spec: { projectServer: 'b', host: 'h' }, apiVersion: 'deployer.dev/v1' };
  const merged = { apiVersion: 'deployer.dev/v1', kind: 'Route', metadata: { name: 'a', resourceVersion: '9', generation: 3 }, spec: { host: 'h', projectServer: 'b' } };
  t.equal(toYaml(forDiff(live)), toYaml(forDiff(merged)));
  t.equal(toYaml(forDiff(merged)), 'apiVersion: deployer.dev/v1\nkind: Route\nmetadata:\n  name: a\nspec:\n  host: h\n  projectServer: b\n');
  t.equal(forDiff(null), null);
});
