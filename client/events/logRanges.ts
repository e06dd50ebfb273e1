/** Blocks per eth_getLogs request: public RPCs refuse wider ranges (10,000 is the common cap). */
export const LOG_RANGE = 10_000;

/**
 * Runs a log query over `fromBlock..toBlock` in requests of at most `range` blocks, oldest first,
 * and concatenates the results: public RPCs refuse one eth_getLogs over a wide range, and a scan
 * from a deployment's start block would otherwise fail on them. The query keeps its types.
 *
 * @example
 * ```ts
 * const head = await provider.getBlockNumber();
 * const logs = await inBlockRanges(
 *   (from, to) => maru.inbox.queryFilter(maru.inbox.filters.AppenderSet(), from, to),
 *   book.startBlock,
 *   head,
 * );
 * ```
 */
export async function inBlockRanges<T>(
  query: (from: number, to: number) => Promise<T[]>,
  fromBlock: number,
  toBlock: number,
  range = LOG_RANGE,
): Promise<T[]> {
  if (!Number.isInteger(range) || range < 1) throw new RangeError(`range must be a positive integer, got ${range}`);
  const out: T[] = [];
  for (let from = Math.max(0, fromBlock); from <= toBlock; from += range)
    out.push(...(await query(from, Math.min(toBlock, from + range - 1))));
  return out;
}
