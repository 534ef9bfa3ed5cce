// Validation of whole objects: schema, metadata formats and the kinds' cross-field rules.
// Returns every problem at once, as Kubernetes causes (`field`, `reason`, `message`).
import type { TSchema } from 'typebox';
import { Settings } from 'typebox/system';
import Value from 'typebox/value';
import { Compile } from 'typebox/compile';

// typebox stops collecting after 8 errors by default; a client deserves every cause at once.
// Bodies are at most 1 MiB, so a generous cap still bounds the work.
Settings.Set({ maxErrors: 512 });
import type { StatusCause } from '../schemas/index.js';
import type { KindInfo } from './kinds.js';

export interface ValidationResult {
  /** Fields the schema does not know: a typo in a spec is an error (400). */
  unknown: StatusCause[];
  /** Known fields with bad values (422). */
  invalid: StatusCause[];
}

const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** Converts a JSON pointer into a Kubernetes field path: `/spec/env/0/name` → `spec.env[0].name`. */
export function fieldPath(pointer: string, extra?: string): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) {
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) out += out ? `.${p}` : p;
    else out += `[${p}]`;
  }
  return out;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function valueAt(obj: unknown, pointer: string): unknown {
  let cur: unknown = obj;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Checks `obj` against the kind's schema; unknown fields and bad values come back apart. */
const compiled = new WeakMap<TSchema, ReturnType<typeof Compile>>();

/** True when `obj` matches `schema` (a compiled check: fast enough for every write). */
export function schemaValid(schema: TSchema, obj: unknown): boolean {
  let check = compiled.get(schema);
  if (!check) {
    check = Compile(schema);
    compiled.set(schema, check);
  }
  return check.Check(obj);
}

export function schemaErrors(schema: TSchema, obj: unknown): ValidationResult {
  const unknown: StatusCause[] = [];
  const invalid: StatusCause[] = [];
  if (schemaValid(schema, obj)) return { unknown, invalid };
  const seen = new Set<string>();
  const errors = [...Value.Errors(schema, obj)];
  // A union of literals reports one `const` error per option and one `anyOf`: fold them.
  const enums = new Map<string, unknown[]>();
  for (const e of errors) {
    if (e.keyword === 'const') {
      const list = enums.get(e.instancePath) ?? [];
      list.push((e.params as { allowedValue?: unknown }).allowedValue);
      enums.set(e.instancePath, list);
    }
  }
  for (const e of errors) {
    if (e.keyword === 'boolean') continue; // the additionalProperties error below names the field
    if (e.keyword === 'additionalProperties') {
      for (const name of (e.params as { additionalProperties?: string[] }).additionalProperties ?? []) {
        const field = fieldPath(e.instancePath, name);
        if (seen.has(`u:${field}`)) continue;
        seen.add(`u:${field}`);
        unknown.push({ field, reason: 'FieldValueNotSupported', message: `unknown field "${field}"` });
      }
      continue;
    }
    const field = fieldPath(e.instancePath);
    if (seen.has(field)) continue;
    const value = valueAt(obj, e.instancePath);
    let cause: StatusCause;
    if (e.keyword === 'required') {
      const names = (e.params as { requiredProperties?: string[] }).requiredProperties ?? [];
      for (const n of names) {
        const f = fieldPath(e.instancePath, n);
        if (!seen.has(f)) {
          seen.add(f);
          invalid.push({ field: f, reason: 'FieldValueRequired', message: 'Required value' });
        }
      }
      continue;
    } else if ((e.keyword === 'anyOf' || e.keyword === 'const') && enums.has(e.instancePath)) {
      const allowed = enums.get(e.instancePath)!.map((v) => show(v)).join(', ');
      cause = { field, reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(value)}: supported values: ${allowed}` };
    } else if (e.keyword === 'type') {
      cause = { field, reason: 'FieldValueTypeInvalid', message: `Invalid value: ${show(value)}: ${e.message}` };
    } else {
      cause = { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${e.message}` };
    }
    seen.add(field);
    invalid.push(cause);
  }
  return { unknown, invalid };
}

function checkQualifiedName(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'prefix part must be a lowercase RFC 1123 subdomain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name))
    return "name part must consist of alphanumeric characters, '-', '_' or '.', at most 63, starting and ending with an alphanumeric character";
  return undefined;
}

/** Formats the schema cannot express: label keys and values, annotation keys and size, finalizers. */
export function metadataErrors(meta: Record<string, unknown> | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!meta || typeof meta !== 'object') return causes;
  const labels = meta.labels as Record<string, unknown> | undefined;
  if (labels && typeof labels === 'object') {
    for (const [k, v] of Object.entries(labels)) {
      const bad = checkQualifiedName(k);
      if (bad) causes.push({ field: `metadata.labels`, reason: 'FieldValueInvalid', message: `Invalid value: ${show(k)}: ${bad}` });
      if (typeof v === 'string' && (v.length > 63 || !LABEL_VALUE.test(v)))
        causes.push({
          field: `metadata.labels[${k}]`,
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${show(v)}: a label value must be empty or at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character`,
        });
    }
  }
  const annotations = meta.annotations as Record<string, unknown> | undefined;
  if (annotations && typeof annotations === 'object') {
    let size = 0;
    for (const [k, v] of Object.entries(annotations)) {
      const bad = checkQualifiedName(k);
      if (bad) causes.push({ field: 'metadata.annotations', reason: 'FieldValueInvalid', message: `Invalid value: ${show(k)}: ${bad}` });
      size += k.length + (typeof v === 'string' ? v.length : 0);
    }
    if (size > MAX_ANNOTATIONS_BYTES)
      causes.push({ field: 'metadata.annotations', reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_ANNOTATIONS_BYTES} bytes` });
  }
  const finalizers = meta.finalizers;
  if (Array.isArray(finalizers)) {
    finalizers.forEach((f, i) => {
      if (typeof f !== 'string') return;
      const bad = checkQualifiedName(f);
      if (bad) causes.push({ field: `metadata.finalizers[${i}]`, reason: 'FieldValueInvalid', message: `Invalid value: ${show(f)}: ${bad}` });
    });
    if (new Set(finalizers).size !== finalizers.length)
      causes.push({ field: 'metadata.finalizers', reason: 'FieldValueDuplicate', message: 'Duplicate value: a finalizer may appear once' });
  }
  return causes;
}

type Spec = Record<string, unknown>;

/** The whole of a Deployment's inline files, in bytes (UTF-8). */
export const INLINE_MAX_BYTES = 1024 * 1024;

/**
 * Why a path inside a release is unsafe, or undefined when it is fine: relative, no "..",
 * no NUL or control characters, no backslash. `dirOk` allows "." (the whole output).
 */
export function releasePathProblem(p: string, dirOk = false): string | undefined {
  if (p.length === 0 || p.length > 4096) return 'a path must have 1 to 4096 characters';
  if (/[\x00-\x1f\x7f\\]/.test(p)) return 'a path must not contain control characters or backslashes';
  if (p.startsWith('/')) return 'a path must be relative to the release (no leading "/")';
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) return 'a path must not contain ".." (it would leave the release)';
  if (parts.length === 0 && !dirOk) return 'a path must name a file';
  return undefined;
}

function inlineFileErrors(inline: unknown): StatusCause[] {
  const files = (inline as { files?: unknown } | undefined)?.files;
  if (!files || typeof files !== 'object') return [];
  const causes: StatusCause[] = [];
  let bytes = 0;
  for (const [path, content] of Object.entries(files as Record<string, unknown>)) {
    const bad = releasePathProblem(path);
    if (bad) causes.push({ field: `spec.source.inline.files[${show(path)}]`, reason: 'FieldValueInvalid', message: `Invalid value: ${show(path)}: ${bad}` });
    bytes += Buffer.byteLength(path) + (typeof content === 'string' ? Buffer.byteLength(content) : 0);
  }
  if (Object.keys(files).length === 0)
    causes.push({ field: 'spec.source.inline.files', reason: 'FieldValueRequired', message: 'Required value: at least one file' });
  if (bytes > INLINE_MAX_BYTES)
    causes.push({ field: 'spec.source.inline.files', reason: 'FieldValueTooLong', message: `Too long: inline files may hold at most ${INLINE_MAX_BYTES} bytes in all (got ${bytes}); use an archive or git source` });
  return causes;
}

/** Cross-field rules of each kind, beyond what a JSON schema says. */
export function kindRuleErrors(kind: string, spec: Spec | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!spec || typeof spec !== 'object') return causes;
  if (kind === 'ProjectServer') {
    const rp = spec.restartPolicy as { name?: string; maximumRetryCount?: number } | undefined;
    if (rp && rp.maximumRetryCount !== undefined && rp.name !== 'on-failure')
      causes.push({
        field: 'spec.restartPolicy.maximumRetryCount',
        reason: 'FieldValueForbidden',
        message: `Forbidden: a retry count is only allowed with restartPolicy "on-failure" (Docker rejects it with "${rp.name}")`,
      });
    const hc = spec.healthCheck as { httpGet?: unknown; exec?: unknown } | undefined;
    if (hc && typeof hc === 'object' && !!hc.httpGet === !!hc.exec)
      causes.push({
        field: 'spec.healthCheck',
        reason: 'FieldValueInvalid',
        message: 'Invalid value: exactly one of httpGet or exec must be set',
      });
  }
  if (kind === 'ProjectServer' && spec.serviceType === 'docker' && spec.image === undefined)
    causes.push({
      field: 'spec.image',
      reason: 'FieldValueRequired',
      message: 'Required value: a "docker" server needs an image (a "static" server defaults to deployer\'s static file server)',
    });
  if (kind === 'Deployment') {
    const src = spec.source as Record<string, unknown> | undefined;
    if (src && typeof src === 'object') {
      const set = ['inline', 'archive', 'git', 'fromDeployment', 'image'].filter((k) => src[k] !== undefined);
      if (set.length !== 1)
        causes.push({
          field: 'spec.source',
          reason: 'FieldValueInvalid',
          message: `Invalid value: exactly one of inline, archive, git, fromDeployment or image must be set (got ${set.length ? set.join(', ') : 'none'})`,
        });
      causes.push(...inlineFileErrors(src.inline));
      const archive = src.archive as { url?: unknown } | undefined;
      if (archive && typeof archive.url === 'string' && !/^https?:\/\/[^\s]+$/i.test(archive.url))
        causes.push({ field: 'spec.source.archive.url', reason: 'FieldValueInvalid', message: `Invalid value: ${show(archive.url)}: must be an http:// or https:// URL of a .tar or .tar.gz` });
      const git = src.git as { url?: unknown; ref?: unknown } | undefined;
      if (git && typeof git.url === 'string' && git.url.startsWith('-'))
        causes.push({ field: 'spec.source.git.url', reason: 'FieldValueInvalid', message: `Invalid value: ${show(git.url)}: must not start with "-"` });
      if (git && typeof git.ref === 'string' && (git.ref.startsWith('-') || git.ref.includes('..') || /[\s\x00-\x1f~^:?*[\\]/.test(git.ref)))
        causes.push({ field: 'spec.source.git.ref', reason: 'FieldValueInvalid', message: `Invalid value: ${show(git.ref)}: not a valid git ref name (a branch, tag or commit)` });
    }
    const build = spec.build as { outputDir?: unknown } | undefined;
    if (build && typeof build.outputDir === 'string' && releasePathProblem(build.outputDir, true))
      causes.push({ field: 'spec.build.outputDir', reason: 'FieldValueInvalid', message: `Invalid value: ${show(build.outputDir)}: ${releasePathProblem(build.outputDir, true)}` });
    if (src && typeof src === 'object' && src.image !== undefined && build !== undefined)
      causes.push({ field: 'spec.build', reason: 'FieldValueForbidden', message: 'Forbidden: a build step runs over files; an image source has none (build the image beforehand)' });
  }
  return causes;
}

/**
 * An Event's own rule (tenant isolation): the object it is about lives in the Event's
 * namespace. A token may write Events only where it may write, so an Event in "a" that named
 * an object of "b" would put words in b's mouth (describe, dashboards). A cluster-scoped
 * object has no namespace: an absent or empty involvedObject.namespace is not checked.
 */
export function eventRuleErrors(event: Record<string, unknown>): StatusCause[] {
  const involved = event.involvedObject as { namespace?: unknown } | undefined;
  const own = (event.metadata as { namespace?: unknown } | undefined)?.namespace;
  if (!involved || typeof involved !== 'object' || typeof involved.namespace !== 'string' || involved.namespace === '') return [];
  if (involved.namespace === own) return [];
  return [
    {
      field: 'involvedObject.namespace',
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${show(involved.namespace)}: does not match the Event's namespace ${show(own)}; an Event can only be about an object in its own namespace (or a cluster-scoped one, with no namespace)`,
    },
  ];
}

/** Fields of a kind's spec that cannot change after creation, with why. */
const IMMUTABLE: Record<string, { field: string; why: string }[]> = {
  ProjectServer: [
    { field: 'serviceType', why: 'create a new server for another service type' },
    {
      field: 'retainVolumeOnDelete',
      why: 'it is recorded on the Docker volume when the server is created (Docker volume labels are fixed), so that the cleanup controller knows whether an orphaned volume may go',
    },
  ],
  Deployment: [
    { field: 'projectServer', why: 'a Deployment is one release into one server; create a new Deployment' },
    { field: 'service', why: 'a Deployment is one release of one service; create a new Deployment' },
    { field: 'source', why: 'a Deployment is one release; create a new Deployment for other content' },
    { field: 'build', why: 'a Deployment is one release; create a new Deployment for another build' },
  ],
};

/** Changes of immutable spec fields in an update. */
export function immutableFieldErrors(kind: string, before: Spec | undefined, after: Spec | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const { field, why } of IMMUTABLE[kind] ?? []) {
    const a = before?.[field];
    const b = after?.[field];
    if (JSON.stringify(a) !== JSON.stringify(b))
      causes.push({
        field: `spec.${field}`,
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(b ?? null)}: field is immutable (was ${JSON.stringify(a ?? null)}); ${why}`,
      });
  }
  return causes;
}
