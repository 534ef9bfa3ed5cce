// Secrets in a ProjectServer's `spec.env`: the values a container gets that must never come
// back out of deployer — not in Events, not in Status messages, not in its log lines. Pure.
//
// Caveats first: redaction is by value. Every occurrence of a value of at least
// MIN_SECRET_LENGTH characters is replaced with `***`, wherever it came from (a container's log
// lines, a health check's output, a Docker error). Shorter values ("1", "on", "dev") are left,
// as replacing them would shred every message and they protect nothing. A value that a
// container prints transformed (base64, cut in half, split across two log lines) is not found.
// The object itself still holds its env: a GET of the ProjectServer shows it to whoever may
// read the namespace.

/** Values shorter than this are not treated as secrets. */
export const MIN_SECRET_LENGTH = 4;
export const REDACTED = '***';

/** The env values of a ProjectServer spec worth redacting, longest first (so a value inside another is not half-replaced). */
export function secretValues(spec: { env?: readonly { value?: unknown }[] } | undefined | null): string[] {
  const out = new Set<string>();
  for (const e of spec?.env ?? []) if (typeof e?.value === 'string' && e.value.length >= MIN_SECRET_LENGTH) out.add(e.value);
  return [...out].sort((a, b) => b.length - a.length);
}

/** `text` with every occurrence of every secret replaced by `***`. */
export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= MIN_SECRET_LENGTH && out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** A copy of a JSON value with every string (keys stay) redacted. */
export function redactDeep<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redactText(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * Redacts an error in place (message and stack, and its cause's, one level deep) and returns
 * it, so the same object — with its class and fields (`kind`, `code`) — can be rethrown.
 */
export function redactError<T>(err: T, secrets: readonly string[]): T {
  if (secrets.length === 0 || !(err instanceof Error)) return err;
  const fix = (e: Error): void => {
    try {
      e.message = redactText(e.message, secrets);
      if (typeof e.stack === 'string') e.stack = redactText(e.stack, secrets);
    } catch {
      // a frozen or odd error: leave it (its message was not ours to build)
    }
  };
  fix(err);
  if (err.cause instanceof Error) fix(err.cause);
  return err;
}
