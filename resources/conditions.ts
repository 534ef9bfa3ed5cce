// Conditions merged by type: a writer changes its own condition and never loses the others.
import type { Condition } from '../schemas/index.js';

/**
 * Returns a new list with `next` merged in by `type`. lastTransitionTime changes only when
 * the condition's status changes; the order of the other conditions is kept.
 */
export function setCondition(list: readonly Condition[] | undefined, next: Condition, now: string): Condition[] {
  const out = [...(list ?? [])];
  const i = out.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? out[i] : undefined;
  const lastTransitionTime =
    prev && prev.status === next.status ? (prev.lastTransitionTime ?? now) : (next.lastTransitionTime ?? now);
  const merged: Condition = { ...next, lastTransitionTime };
  if (i >= 0) out[i] = merged;
  else out.push(merged);
  return out;
}

export function getCondition(list: readonly Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}
