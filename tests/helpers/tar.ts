// Tar archives built in memory for tests (tar-stream's pack).
import { pack, type Header } from 'tar-stream';

/** An uncompressed tar of `entries` (string or Buffer bodies; none for dirs and links). */
export async function tarOf(entries: { header: Partial<Header> & { name: string }; body?: string | Buffer }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    p.on('data', (c: unknown) => chunks.push(c as Buffer));
    p.on('end', () => resolve(Buffer.concat(chunks)));
    p.on('error', reject);
  });
  for (const e of entries) {
    if (e.body === undefined) p.entry(e.header);
    else p.entry(e.header, e.body);
  }
  p.finalize();
  return done;
}
