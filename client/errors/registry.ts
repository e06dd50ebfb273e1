import { MaruError } from "./base.js";

/**
 * Thrown when a string is not an Arweave transaction id (43 base64url characters = 32 bytes),
 * or bytes are not 32 long.
 * @example
 * ```ts
 * arweaveIdToBytes32("not-an-id"); // throws ArweaveIdError
 * ```
 */
export class ArweaveIdError extends MaruError {
  override name = "ArweaveIdError";
  constructor(
    readonly value: string,
    reason: string,
  ) {
    super(`"${value}" is not an Arweave transaction id: ${reason}.`, {
      details: ["An Arweave id is 43 characters of base64url (A–Z, a–z, 0–9, - and _), encoding 32 bytes."],
    });
  }
}

/**
 * Thrown when an epoch's graph is not pinned yet (the epoch is not frozen).
 * @example
 * ```ts
 * await syncGraph({ ..., epoch: 99n }); // throws GraphNotPinnedError while epoch 99 is open
 * ```
 */
export class GraphNotPinnedError extends MaruError {
  override name = "GraphNotPinnedError";
  constructor(readonly epoch: bigint) {
    super(`Epoch ${epoch} has no pinned operator graph yet: it is not frozen.`, {
      fix: "wait for freeze(epoch), or sync the current epoch's graph.",
    });
  }
}

/**
 * Thrown when the registry's change events do not add up to the graph pinned for an epoch:
 * changes missing (an RPC that dropped logs, a wrong fromBlock) or a hash that differs.
 * @example
 * ```ts
 * try { await syncGraph(p); } catch (e) { if (e instanceof GraphIncompleteError) ... }
 * ```
 */
export class GraphIncompleteError extends MaruError {
  override name = "GraphIncompleteError";
  constructor(
    readonly epoch: bigint,
    reason: string,
  ) {
    super(`Cannot reproduce the operator graph pinned for epoch ${epoch}: ${reason}.`, {
      fix: "check the RPC URL and the registry's deployment block (fromBlock); an RPC that limits log ranges needs a smaller logChunkSize.",
    });
  }
}

/**
 * Thrown when a blob downloaded from the gateway does not hash to what the registry pins.
 * @example
 * ```ts
 * // a gateway that serves other bytes for the definition of operator 3:
 * // BlobHashMismatchError: definition of operator 3 ("balances") from .../<txid> ...
 * ```
 */
export class BlobHashMismatchError extends MaruError {
  override name = "BlobHashMismatchError";
  constructor(
    readonly operatorId: number,
    readonly kind: "definition" | "bytecode",
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`The ${kind} of operator ${operatorId} downloaded from ${url} does not match the registry.`, {
      details: [`expected keccak256: ${expected}`, `got:               ${actual}`],
      fix: "the gateway served other bytes than were registered; use another gateway. Nothing was cached.",
    });
  }
}

/**
 * Thrown when a blob cannot be downloaded from the gateway.
 * @example
 * ```ts
 * // GatewayError: could not download https://arweave.net/<txid>: HTTP 404
 * ```
 */
export class GatewayError extends MaruError {
  override name = "GatewayError";
  constructor(
    readonly url: string,
    reason: string,
    cause?: unknown,
  ) {
    super(`Could not download ${url}: ${reason}.`, {
      fix: "check the gateway URL (--gateway) and that the transaction is mined and seeded.",
      cause,
    });
  }
}
