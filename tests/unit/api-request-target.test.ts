// The request target as the router sees it (api/app.ts originForm), and the apply body's depth
// bound (api/routes/resources.ts yamlDepthBound): both guard the API before a handler runs.
import t from 'tap';
import { originForm } from '../../api/app.js';
import { yamlDepthBound } from '../../api/routes/resources.js';

t.test('absolute-form and * targets are routed by their path', async (t) => {
  t.equal(originForm('/apis?x=1'), '/apis?x=1');
  t.equal(originForm('http://evil.example/apis/deployer.dev/v1/projectservers?limit=1'), '/apis/deployer.dev/v1/projectservers?limit=1');
  t.equal(originForm('https://h:6443'), '/');
  t.equal(originForm('*'), '/*');
});

t.test('a YAML text is never read deeper than its bound says', async (t) => {
  t.equal(yamlDepthBound('a: 1\n'), 0);
  t.equal(yamlDepthBound('['.repeat(5000) + ']'.repeat(5000)), 5000, 'flow nesting');
  t.equal(yamlDepthBound('- - - - x\n'), 4, 'block sequences on one line');
  t.ok(yamlDepthBound('a:\n  b:\n    c: 1\n') >= 2, 'indentation');
});
