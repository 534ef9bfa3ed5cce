// GET /api/monitoring/health counts servers by what is known of them: a server no controller has
// looked at yet is pending, not unhealthy.
import t from 'tap';
import { PS, startApi } from '../helpers/api.js';

t.test('servers without a health yet are pending; unhealthy and Failed ones are unhealthy', async (t) => {
  const a = await startApi(t);
  const make = async (name: string, status?: Record<string, unknown>) => {
    t.equal((await a.request('POST', PS, { body: { apiVersion: 'deployer.dev/v1', kind: 'ProjectServer', metadata: { name }, spec: { serviceType: 'static' } } })).status, 201);
    if (status) {
      const res = await a.request('PATCH', `${PS}/${name}/status`, { body: { status }, contentType: 'application/merge-patch+json' });
      t.equal(res.status, 200, JSON.stringify(res.body));
    }
  };
  await make('new');
  await make('starting', { phase: 'Pending', health: 'unknown' });
  await make('ok', { phase: 'Running', health: 'healthy', restartCount: 2 });
  await make('sick', { phase: 'Running', health: 'unhealthy' });
  await make('broken', { phase: 'Failed' });
  await make('off', { phase: 'Stopped' });
  const res = await a.request('GET', '/api/monitoring/health');
  t.equal(res.status, 200);
  t.same(res.body.containers, { total: 6, healthy: 1, unhealthy: 2, degraded: 0, pending: 2, stopped: 1, restarts: 2 });
});
