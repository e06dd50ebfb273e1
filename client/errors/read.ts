import { MaruError } from "./base.js";

/**
 * Thrown when an epoch is asked for that the chain has no data for yet: later than the one open
 * for commits (current + 1).
 * @example
 * ```ts
 * await getEpoch(maru, 99n); // throws EpochNotFoundError while epoch 3 is current
 * ```
 */
export class EpochNotFoundError extends MaruError {
  override name = "EpochNotFoundError";
  constructor(
    readonly epoch: bigint,
    readonly current: bigint,
  ) {
    super(`Epoch ${epoch} has no data yet: epoch ${current} is current and ${current + 1n} is open for commits.`, {
      fix: `ask for an epoch up to ${current + 1n}, or wait for epoch ${epoch} to open (waitForEpoch).`,
    });
  }
}

/**
 * Thrown when a listing is asked for a page that is not a page: a negative or fractional `from`,
 * or a `limit` outside 1..`max`.
 * @example
 * ```ts
 * await listOperators(maru, { limit: 0 }); // throws InvalidPageError
 * ```
 */
export class InvalidPageError extends MaruError {
  override name = "InvalidPageError";
  constructor(
    readonly from: number,
    readonly limit: number,
    readonly max: number,
  ) {
    super(`Invalid page: from ${from}, limit ${limit}.`, {
      details: [`from must be a whole number ≥ 0; limit a whole number from 1 to ${max}.`],
      fix: `page with { from: page.next, limit: ${Math.min(Math.max(1, Math.trunc(limit) || 1), max)} } until next is undefined.`,
    });
  }
}

/**
 * Thrown when a read helper is given a block range it cannot scan with: `blockRange` must be a
 * whole number ≥ 1 (0 or less would never step back from the head), `maxBlocks` a whole number ≥ 0.
 * @example
 * ```ts
 * await getWorker(maru, address, { blockRange: 0 }); // throws InvalidBlockRangeError
 * ```
 */
export class InvalidBlockRangeError extends MaruError {
  override name = "InvalidBlockRangeError";
  constructor(
    readonly option: "blockRange" | "maxBlocks",
    readonly value: number,
  ) {
    super(`Invalid ${option}: ${value}.`, {
      details: [
        option === "blockRange"
          ? "blockRange is the widest eth_getLogs range asked for: a whole number of blocks, at least 1."
          : "maxBlocks is how far back from the head to look: a whole number of blocks, 0 or more.",
      ],
      fix:
        option === "blockRange"
          ? "leave it out (10,000), or give the range your provider allows, e.g. { blockRange: 2_000 }."
          : "leave it out (200,000), or give e.g. { maxBlocks: 50_000 }.",
    });
  }
}
