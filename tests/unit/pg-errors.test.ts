// store/pg-errors.ts: what a client sees of the database's errors — a 503 with Retry-After and a
// message a person can act on for a lost connection, a full disk (naming where the space goes,
// whether the database is embedded or not), other resource shortages and aborted transactions;
// anything else passes through unchanged.
import t from 'tap';
import { ApiError } from '../../resources/index.js';
import { isConnectionError, mapPgError } from '../../store/pg-errors.js';

const as503 = (err: unknown) => {
  if (!(err instanceof ApiError)) throw new Error(`not an ApiError: ${String(err)}`);
  return { code: err.code, reason: err.reason, message: err.message, retry: err.details?.retryAfterSeconds };
};

t.test('database errors a client sees as 503s', async (t) => {
  t.match(as503(mapPgError({ code: '53100', message: 'could not extend file' })), {
    code: 503,
    reason: 'ServiceUnavailable',
    message: /out of disk space: the write was not made; free space on the database's disk \(deployer's data directory when it runs the embedded database\)/,
    retry: 5,
  });
  t.match(as503(mapPgError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' })), { code: 503, message: /unavailable; retry shortly/, retry: 2 });
  t.match(as503(mapPgError({ code: '57P01', message: 'terminating connection' })), { code: 503, retry: 2 });
  t.match(as503(mapPgError({ code: '53200', message: 'out of memory' })), { code: 503, message: /out of resources \(53200\)/ });
  t.match(as503(mapPgError({ code: '40001', message: 'serialization failure' })), { code: 503, message: /aborted a conflicting transaction/, retry: 1 });
  const other = Object.assign(new Error('syntax error'), { code: '42601' });
  t.equal(mapPgError(other), other, 'anything else passes through');
  t.ok(isConnectionError(new Error('Connection terminated unexpectedly')));
  t.notOk(isConnectionError(null));
});
