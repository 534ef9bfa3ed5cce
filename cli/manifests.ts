// Manifests: YAML or JSON, several documents per file, `List` kinds unpacked; a directory
// means its *.yaml, *.yml and *.json files in name order; `-` means stdin.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { CliError } from './errors.js';

export interface Manifest {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The objects in one file's text; `source` names it in errors. */
export function parseManifests(text: string, source: string): Manifest[] {
  const docs = YAML.parseAllDocuments(text);
  const out: Manifest[] = [];
  for (const [i, doc] of docs.entries()) {
    const where = docs.length > 1 ? `${source} (document ${i + 1})` : source;
    if (doc.errors.length > 0) throw new CliError(`error parsing ${where}: ${doc.errors[0]!.message}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue; // an empty document (e.g. a trailing ---)
    out.push(...unpack(value, where));
  }
  return out;
}

function unpack(value: unknown, where: string): Manifest[] {
  if (typeof value !== 'object' || Array.isArray(value)) throw new CliError(`error parsing ${where}: expected an object with kind and metadata`);
  const v = value as Record<string, unknown>;
  if (typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items))
    return v.items.flatMap((item, j) => unpack(item, `${where} items[${j}]`));
  if (typeof v.kind !== 'string' || v.kind === '') throw new CliError(`error validating ${where}: the object has no "kind"`);
  const meta = v.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '')
    throw new CliError(`error validating ${where}: the ${v.kind} has no metadata.name`);
  return [v as Manifest];
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** The files `paths` name (directories expanded, sorted by name; `-` kept as stdin). */
export async function manifestFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(p);
      continue;
    }
    let s;
    try {
      s = await stat(p);
    } catch {
      throw new CliError(`the path "${p}" does not exist`);
    }
    if (!s.isDirectory()) {
      out.push(p);
      continue;
    }
    const names = (await readdir(p)).filter((n) => MANIFEST_FILE.test(n)).sort();
    if (names.length === 0) throw new CliError(`no manifests (*.yaml, *.yml, *.json) in the directory "${p}"`);
    out.push(...names.map((n) => join(p, n)));
  }
  return out;
}

/** Reads and parses every manifest `paths` name; `-f` is required. */
export async function readManifests(paths: readonly string[], readStdin: () => Promise<string>): Promise<Manifest[]> {
  if (paths.length === 0) throw new CliError('must name the manifests with -f FILE, -f DIR or -f -');
  const objects: Manifest[] = [];
  for (const f of await manifestFiles(paths)) {
    const text = f === '-' ? await readStdin() : await readFile(f, 'utf8').catch((err: Error) => {
      throw new CliError(`cannot read ${f}: ${err.message}`);
    });
    objects.push(...parseManifests(text, f === '-' ? 'stdin' : f));
  }
  if (objects.length === 0) throw new CliError(`no objects passed: ${paths.join(', ')} hold no manifests`);
  return objects;
}

/** What other kinds refer to goes first: ProjectServers before Routes and Deployments (stable otherwise). */
export function applyOrder<T extends { kind: string }>(objects: readonly T[]): T[] {
  const rank = (o: T) => (o.kind.toLowerCase() === 'projectserver' ? 0 : 1);
  return objects.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map((x) => x.o);
}

/** Deletion goes the other way: the ones that refer to a server before the server. */
export const deleteOrder = <T extends { kind: string }>(objects: readonly T[]): T[] => applyOrder(objects).reverse();
