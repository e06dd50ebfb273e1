// Which blocks a worker treats as final (docs/protocol.md §11): the chain's `finalized` block where the
// chain has one (Ethereum and its rollups' L1-derived finality), or a configured depth behind the
// head elsewhere (local chains, chains without the tag). Source deltas are read, and accumulated
// proofs signed and judged, only up to that block, so a reorg can never turn an honest claim
// about a block into evidence.
import type { Provider } from "ethers";
import { MaruError } from "../../client/errors/base.js";

export type Finality = { kind: "tag" } | { kind: "depth"; depth: number };

/**
 * Parses `--finality`: `finalized` (the chain's tag) or a depth in blocks (≥ 1).
 * @example
 * ```ts
 * parseFinality("finalized"); parseFinality("12");
 * ```
 */
export function parseFinality(value: string): Finality {
  if (value === "finalized") return { kind: "tag" };
  const depth = Number(value);
  if (!Number.isInteger(depth) || depth < 1) {
    throw new MaruError(`--finality "${value}" is neither "finalized" nor a depth in blocks`, {
      fix: "use --finality finalized on chains that serve the finalized tag, or e.g. --finality 12",
    });
  }
  return { kind: "depth", depth };
}

/**
 * The newest final block number.
 * @example
 * ```ts
 * const final = await finalizedBlock(provider, parseFinality("finalized"));
 * ```
 */
export async function finalizedBlock(provider: Provider, f: Finality, head?: number): Promise<number> {
  if (f.kind === "depth") return Math.max(0, (head ?? (await provider.getBlockNumber())) - f.depth);
  const block = await provider.getBlock("finalized");
  if (!block) {
    throw new MaruError("The chain does not serve the `finalized` block tag", {
      fix: "pass --finality N, a depth in blocks after which the chain's blocks cannot be reorganised",
    });
  }
  return block.number;
}

/**
 * Checks at start-up that the finality rule works on this chain, with a message that says what to do.
 * @example
 * ```ts
 * await checkFinality(provider, finality, "--finality");
 * ```
 */
export async function checkFinality(provider: Provider, f: Finality): Promise<void> {
  try {
    await finalizedBlock(provider, f);
  } catch (e) {
    if (e instanceof MaruError) throw e;
    throw new MaruError(`The chain did not answer for its finalized block: ${(e as Error).message.split("\n")[0]}`, {
      fix: "pass --finality N (a depth in blocks) for a chain without the finalized tag",
    });
  }
}
