// The dashboard: a page at `/` and its assets under `/ui/`, served without a token (the page
// asks for one and sends it with every API call it makes).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../resources/index.js';

const DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const ASSET = /^[a-z0-9][a-z0-9-]*\.(html|js|css|svg)$/;

/** Paths the auth hook lets through without a token. */
export function isDashboardPath(path: string): boolean {
  return path === '/' || path.startsWith('/ui/');
}

export function dashboardRoutes(app: FastifyInstance): void {
  const send = async (file: string, reply: import('fastify').FastifyReply) => {
    const ext = file.slice(file.lastIndexOf('.'));
    const body = await readFile(DIR + file).catch(() => undefined);
    if (body === undefined) throw new ApiError(404, 'NotFound', `the dashboard has no file "${file}"`);
    return reply.type(TYPES[ext] ?? 'application/octet-stream').header('Cache-Control', 'no-cache').send(body);
  };
  app.get('/', { schema: { hide: true } }, (_req, reply) => send('index.html', reply));
  app.get('/ui/:file', { schema: { hide: true } }, (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!ASSET.test(file)) throw new ApiError(404, 'NotFound', `the dashboard has no file "${file.slice(0, 80)}"`);
    return send(file, reply);
  });
}
