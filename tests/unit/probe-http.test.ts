// controllers/projectserver/probe-http.ts: the probes' own HTTP/1.1 GET against a loopback
// server that writes exact bytes — the verdict from the status line; bodies by Content-Length,
// chunked (split anywhere) or until close, drained so the socket is reused; 1xx skipped;
// Connection: close and HTTP/1.0 honoured; what is not HTTP, headers too large, a body too
// large and a timeout as errors; a path with spaces percent-encoded.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { closeIdleProbeSockets, httpGetStatus } from '../../controllers/projectserver/probe-http.js';

/** A server that answers each request (one per "\r\n\r\n") with the next scripted answer, in pieces. */
async function scripted(t: Test, answers: Array<string[] | ((s: net.Socket) => void)>) {
  const requests: string[] = [];
  const conns: net.Socket[] = [];
  let next = 0;
  const server = net.createServer((s) => {
    conns.push(s);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        requests.push(buf.slice(0, i));
        buf = buf.slice(i + 4);
        const a = answers[next++ % answers.length];
        if (typeof a === 'function') a(s);
        else a.forEach((piece, k) => setTimeout(() => !s.destroyed && s.write(piece, 'latin1'), k * 5));
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    closeIdleProbeSockets();
    for (const s of conns) s.destroy();
    server.close();
  });
  const url = (path = '/h') => `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return { requests, conns, url };
}

const signal = new AbortController().signal;
const get = (url: string, ms = 1000) => httpGetStatus(url, ms, signal);
const settle = () => new Promise((r) => setTimeout(r, 50));

t.test('bodies by length, chunked in pieces and empty: drained, one connection for all', async (t) => {
  const s = await scripted(t, [
    ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234', '56789'],
    ['HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r', '\nabc\r\n1', '0;ext=1\r\n0123456789abcdef\r\n0\r\nX-Trailer: y\r\n', '\r\n'],
    ['HTTP/1.1 204 No Content\r\n\r\n'],
    ['HTTP/1.1 302 Found\r\nLocation: /x\r\ncontent-length: 0\r\n\r\n'],
  ]);
  const codes = [];
  for (let i = 0; i < 8; i++) {
    codes.push(await get(s.url()));
    await settle(); // the body drains after the verdict
  }
  t.same(codes, [200, 503, 204, 302, 200, 503, 204, 302]);
  t.equal(s.conns.length, 1, 'every answer was read to its end, so the socket was reused');
  t.match(s.requests[0], /^GET \/h HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nUser-Agent: deployer-probe/);
});

t.test('1xx answers are skipped; Connection: close and HTTP/1.0 end the socket', async (t) => {
  const s = await scripted(t, [
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'],
    ['HTTP/1.0 404 Not Found\r\n\r\n', 'gone'],
  ]);
  t.equal(await get(s.url()), 200, '100 Continue skipped');
  await settle();
  t.equal(await get(s.url()), 200);
  await settle();
  t.equal(s.conns.length, 1);
  // the first connection was closed after "Connection: close": the next probe connects anew
  setTimeout(() => s.conns[0].destroy(), 10);
  t.equal(await get(s.url()), 404, 'an HTTP/1.0 answer read until close');
  t.equal(s.conns.length, 2, 'a new connection after Connection: close');
});

t.test('errors: not HTTP, headers too large, a body too large, no answer, a refusal', async (t) => {
  const s = await scripted(t, [
    ['SSH-2.0-OpenSSH\r\n\r\n'],
    (c) => c.write(`HTTP/1.1 200 OK\r\n${'X-Big: y\r\n'.repeat(2000)}`),
    ['HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n'],
    () => undefined,
  ]);
  await t.rejects(get(s.url()), /not an HTTP answer/);
  await t.rejects(get(s.url()), /headers are too large/);
  t.equal(await get(s.url()), 200, 'the verdict stands; the socket is closed rather than drained');
  await settle();
  await t.rejects(get(s.url(), 100), /no answer within 100 ms/);
  const port = (await new Promise<number>((r) => {
    const x = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (x.address() as AddressInfo).port;
      x.close(() => r(p));
    });
  }));
  await t.rejects(get(`http://127.0.0.1:${port}/h`), /ECONNREFUSED/);
  await t.rejects(get('https://x/'), /only http:\/\/host:port\/path/);
});

t.test('a path with a space or a non-ASCII letter is percent-encoded; an aborted signal rejects', async (t) => {
  const s = await scripted(t, [['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']]);
  t.equal(await get(s.url('/a b/é')), 200);
  t.match(s.requests[0], /^GET \/a%20b\/%C3%A9 HTTP\/1\.1/);
  const ac = new AbortController();
  ac.abort();
  await t.rejects(httpGetStatus(s.url(), 1000, ac.signal));
  const ac2 = new AbortController();
  const slow = await scripted(t, [() => undefined]);
  const p = httpGetStatus(slow.url(), 5000, ac2.signal);
  setTimeout(() => ac2.abort(), 20);
  await t.rejects(p, /abort/i);
});
