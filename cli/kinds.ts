// Kinds as the server describes them (discovery: GET /apis/deployer.dev/v1, an
// APIResourceList), and the words a user may type for one: plural, singular, short name or
// Kind, in any case.
import { GROUP_PATH, type ApiClient } from './client.js';
import { CliError } from './errors.js';

export interface KindRef {
  plural: string;
  singular: string;
  kind: string;
  shortNames: string[];
  namespaced: boolean;
}

interface ApiResource {
  name: string;
  singularName?: string;
  kind: string;
  shortNames?: string[];
  namespaced?: boolean;
}

/** The kinds of an APIResourceList (subresources such as `projectservers/status` left out). */
export function kindsOf(list: { resources?: ApiResource[] }): KindRef[] {
  return (list.resources ?? [])
    .filter((r) => !r.name.includes('/'))
    .map((r) => ({
      plural: r.name,
      singular: r.singularName || r.kind.toLowerCase(),
      kind: r.kind,
      shortNames: r.shortNames ?? [],
      namespaced: r.namespaced !== false,
    }));
}

export async function discoverKinds(client: ApiClient): Promise<KindRef[]> {
  return kindsOf((await client.json('GET', GROUP_PATH)).body ?? {});
}

/** The kind `word` names; a CliError listing what deployer has when none matches. */
export function resolveKind(kinds: readonly KindRef[], word: string): KindRef {
  const w = word.toLowerCase();
  const found = kinds.find((k) => k.plural === w || k.singular === w || k.kind.toLowerCase() === w || k.shortNames.includes(w));
  if (found) return found;
  throw new CliError(`the server doesn't have a resource type "${word}"; deployer has: ${describeKinds(kinds)}`);
}

export const describeKinds = (kinds: readonly KindRef[]) =>
  kinds.map((k) => (k.shortNames.length ? `${k.plural} (${k.shortNames.join(', ')})` : k.plural)).join(', ');

/** `deployment/blog` → ["deployment", "blog"]; `kind name` when given as two words. */
export function splitTypeName(args: readonly string[], what: string): { kindWord: string; name: string | undefined } {
  const [first, second] = args;
  if (first === undefined) throw new CliError(`${what}: name a kind, e.g. deployctl ${what} projectservers`);
  const slash = first.indexOf('/');
  if (slash >= 0) {
    if (second !== undefined) throw new CliError(`${what}: there is no need to name the kind twice: use ${first} or ${first.slice(0, slash)} ${second}`);
    const name = first.slice(slash + 1);
    if (name === '') throw new CliError(`${what}: a name is missing after "${first}"`);
    return { kindWord: first.slice(0, slash), name };
  }
  return { kindWord: first, name: second };
}
