import { MaruError } from "../errors/base.js";
import type { Protocol } from "../contracts.js";

/**
 * Thrown when an epoch did not become current in time.
 * @example
 * ```ts
 * await waitForEpoch(maru, 5n, { timeoutMs: 60_000 }).catch((e) => { if (e instanceof EpochTimeoutError) retryLater(); });
 * ```
 */
export class EpochTimeoutError extends MaruError {
  override name = "EpochTimeoutError";
}

/**
 * Resolves when `epoch` (or a later one) is current, polling every `pollMs`. Survives transient
 * RPC errors (they are retried); rejects with {@link EpochTimeoutError} after `timeoutMs`, or
 * when `signal` aborts.
 *
 * @example
 * ```ts
 * const current = await waitForEpoch(maru, 7n, { timeoutMs: 3_600_000 });
 * ```
 */
export async function waitForEpoch(
  p: Protocol,
  epoch: bigint,
  options: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<bigint> {
  const pollMs = options.pollMs ?? 2_000;
  const deadline = Date.now() + (options.timeoutMs ?? Infinity);
  for (;;) {
    if (options.signal?.aborted) throw new EpochTimeoutError(`Stopped waiting for epoch ${epoch}`);
    try {
      const current = await p.epochs.currentEpoch();
      if (current >= epoch) return current;
    } catch {
      // a transient RPC error: try again
    }
    if (Date.now() + pollMs > deadline) {
      throw new EpochTimeoutError(`Epoch ${epoch} did not become current in time`, {
        fix: "someone must call freeze and advance (any worker may); check that the chain advances",
      });
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
