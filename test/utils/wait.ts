// Polls `cond` every 20 ms until it holds; rejects after `ms` (for tests that wait on other
// processes or on event streams).
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
