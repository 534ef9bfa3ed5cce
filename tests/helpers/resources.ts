// Shared pieces of the unit tests of resources/.
import { ApiError, kindByName, type KindInfo, type WriteContext } from '../../resources/index.js';

export function kind(name: string): KindInfo {
  const info = kindByName(name);
  if (!info) throw new Error(`kind ${name} is not registered`);
  return info;
}

/** A fixed write context: the clock, uid and suffix the rules would get from the store. */
export const CTX: WriteContext = {
  namespace: 'default',
  now: '2024-05-01T10:00:00Z',
  newUid: '0b6f4a52-8c1e-4d3e-9a57-2f0c8e1d9b10',
  randomSuffix: 'x7k2q',
};

/** Runs fn and returns the ApiError it throws; anything else fails the test. */
export function apiError(fn: () => unknown): ApiError {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error(`expected an ApiError, but the call returned ${JSON.stringify(result)}`);
}
