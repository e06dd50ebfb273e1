// Byzantine modes: a worker that lies on purpose, to show (devnet, tests) that every lie is caught.
// Off by default, and refused on any chain that is not a local development chain. docs/worker.md.
import { MaruError } from "../../client/errors/base.js";

export const BYZANTINE_MODES = [
  "misroute", // a delta of another shard in a batch (MISROUTED_DELTA)
  "equivocate", // a second, different batch for a seq already sent (EQUIVOCATION)
  "bad-batch-hash", // a batchMsh that is not the deltas' (BATCH_MISMATCH)
  "broken-chain", // a cumulativeMsh that drops the channel's history (BROKEN_CHAIN)
  "bad-accumulated-proof", // an accumulated proof naming a block hash that is not the chain's (INVALID_ACCUMULATED_PROOF)
  "withhold", // sends nothing to other workers (not provable on-chain: detected, reported, not slashed)
  "wrong-output", // computes its first stage wrongly, signs and routes correctly (EXECUTION, through a dispute and its jury)
] as const;
export type ByzantineMode = (typeof BYZANTINE_MODES)[number];

/** The fault each provable lie is slashed for (FraudProofs' fault names); `withhold` has none. */
export const FAULT_OF_MODE: Partial<Record<ByzantineMode, string>> = {
  misroute: "misrouted-delta",
  equivocate: "equivocation",
  "bad-batch-hash": "batch-mismatch",
  "broken-chain": "broken-chain",
  "bad-accumulated-proof": "invalid-accumulated-proof",
  "wrong-output": "execution",
};

/** Chain ids of local development nodes (hardhat node, anvil, ganache); the only ones a mode may run on. */
export const LOCAL_CHAIN_IDS = new Set([31337, 1337]);

/**
 * Parses `--byzantine`: undefined when not given; throws a MaruError for an unknown mode or a
 * chain that is not local, so a cheating worker can never be started against a public network.
 */
export function byzantineMode(value: string | undefined, chainId: number): ByzantineMode | undefined {
  if (value === undefined) return undefined;
  if (!(BYZANTINE_MODES as readonly string[]).includes(value)) {
    throw new MaruError(`Unknown byzantine mode "${value}"`, { fix: `use one of ${BYZANTINE_MODES.join(", ")}` });
  }
  if (!LOCAL_CHAIN_IDS.has(chainId)) {
    throw new MaruError(`--byzantine is refused on chain ${chainId}: it makes this worker cheat and lose its stake`, {
      fix: "byzantine modes run only on a local development chain (chain id 31337 or 1337)",
    });
  }
  return value as ByzantineMode;
}
