import type { Log, Provider } from "ethers";

/** Where a watch stands: the next block to read; persist it to resume after a restart. */
export type WatchCursor = { nextBlock: number };

/** Options of {@link watchEvents}. */
export type WatchOptions = {
  /** The first block to read (a deployment's `startBlock`, or a saved cursor). */
  fromBlock: number;
  /** Deliver a block's logs only once it is this deep (default 3): a shallower reorg is never seen. */
  confirmations?: number;
  /** How often to poll (default 2,000 ms) and the widest getLogs range (default 2,000 blocks). */
  pollMs?: number;
  maxRange?: number;
  /** Called after each delivered range: save the cursor to resume there after a restart. */
  onProgress?: (cursor: WatchCursor) => void | Promise<void>;
  /** Called when blocks already delivered were replaced (a reorg deeper than `confirmations`):
   * logs from `fromBlock` on are delivered again after this call. */
  onReorg?: (fromBlock: number) => void | Promise<void>;
  /** Called for an RPC error (a dropped connection, a rate limit); the watch retries with backoff. */
  onError?: (error: unknown) => void;
};

/** A running watch. */
export type Watch = { stop(): Promise<void>; cursor(): WatchCursor };

const KEEP = 64; // recent delivered block hashes kept to find a reorg's fork point

/**
 * Watches logs matching `filter` by polling `eth_getLogs`, for event streams that must survive
 * reorgs, reconnects and restarts: logs are delivered in block order, only once their block is
 * `confirmations` deep; the hash of every delivered block is remembered, so a deeper reorg is
 * detected, reported (`onReorg`) and re-read from the fork point; RPC errors are retried with
 * backoff; `onProgress` gives the cursor to persist, and `fromBlock` resumes from it.
 *
 * @example
 * ```ts
 * const watch = watchEvents(provider, { address: book.contracts.fraudProofs }, async (logs) => {
 *   for (const log of logs) handle(epochs.interface.parseLog(log));
 * }, { fromBlock: saved ?? book.startBlock, confirmations: 3, onProgress: (c) => save(c) });
 * // … later: await watch.stop();
 * ```
 */
export function watchEvents(
  provider: Pick<Provider, "getBlockNumber" | "getBlock" | "getLogs">,
  filter: { address?: string | string[]; topics?: Array<string | string[] | null> },
  onLogs: (logs: Log[]) => void | Promise<void>,
  options: WatchOptions,
): Watch {
  const confirmations = options.confirmations ?? 3;
  const pollMs = options.pollMs ?? 2_000;
  const maxRange = options.maxRange ?? 2_000;
  let next = options.fromBlock;
  const delivered: Array<{ number: number; hash: string }> = []; // ascending, at most KEEP
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });

  async function checkReorg(): Promise<boolean> {
    // Walk back over remembered blocks until one still has its hash: the fork point.
    let i = delivered.length - 1;
    while (i >= 0) {
      const b = await provider.getBlock(delivered[i].number);
      if (b && b.hash === delivered[i].hash) break;
      --i;
    }
    if (i === delivered.length - 1) return false;
    const from = i >= 0 ? delivered[i].number + 1 : Math.max(options.fromBlock, next - KEEP);
    delivered.splice(i + 1);
    next = from;
    await options.onReorg?.(from);
    return true;
  }

  async function step(): Promise<void> {
    if (delivered.length) await checkReorg();
    const head = await provider.getBlockNumber();
    const safe = head - confirmations;
    while (!stopped && next <= safe) {
      const to = Math.min(safe, next + maxRange - 1);
      const logs = await provider.getLogs({ ...filter, fromBlock: next, toBlock: to });
      const last = await provider.getBlock(to);
      if (!last?.hash) return; // the node moved under us: try again next poll
      if (logs.length) await onLogs(logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index));
      delivered.push({ number: to, hash: last.hash });
      for (const l of logs) {
        if (!delivered.some((d) => d.number === l.blockNumber))
          delivered.push({ number: l.blockNumber, hash: l.blockHash });
      }
      delivered.sort((a, b) => a.number - b.number);
      delivered.splice(0, Math.max(0, delivered.length - KEEP));
      next = to + 1;
      await options.onProgress?.({ nextBlock: next });
    }
  }

  const done = (async () => {
    let backoff = pollMs;
    while (!stopped) {
      try {
        await step();
        backoff = pollMs;
      } catch (e) {
        options.onError?.(e);
        backoff = Math.min(backoff * 2, 60_000);
      }
      if (!stopped) await sleep(backoff);
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await done;
    },
    cursor: () => ({ nextBlock: next }),
  };
}
