// Runs async work over a list with at most `limit` in flight. Each worker has a fixed slot
// number (0..limit-1) so it can own a connection. After the first failure no new item starts;
// the ones in flight finish, then the first error is thrown.
export async function runBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, slot: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | null = null;
  const worker = async (slot: number) => {
    while (failure === null && next < items.length) {
      const item = items[next++];
      try {
        await fn(item, slot);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const workers = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workers }, (_, slot) => worker(slot)));
  if (failure !== null) throw (failure as { error: unknown }).error;
}
