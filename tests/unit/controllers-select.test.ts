// Which controllers a process runs: --controllers / DEPLOYER_CONTROLLERS.
import t from 'tap';
import { selectControllers } from '../../controllers/index.js';

t.test('selectControllers', async (t) => {
  const known = ['projectserver', 'route', 'gc'];
  t.same(selectControllers(undefined, known), known, 'default: all');
  t.same(selectControllers('', known), known);
  t.same(selectControllers('*', known), known);
  t.same(selectControllers('route, gc', known), ['route', 'gc']);
  t.throws(() => selectControllers('route,nope', known), /unknown controller "nope"; known: projectserver, route, gc/);
  t.throws(() => selectControllers('x', []), /known: none yet/);
});
