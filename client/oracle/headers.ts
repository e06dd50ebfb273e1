import { encodeRlp, getBytes, keccak256, toBeArray } from "ethers";
import { MaruError } from "../errors/base.js";

/**
 * A block as `eth_getBlockByNumber` returns it (hex strings), with the header fields up to the
 * newest fork this encoder knows (Prague: `requestsHash`).
 */
export type RpcBlock = {
  hash: string;
  parentHash: string;
  sha3Uncles: string;
  miner: string;
  stateRoot: string;
  transactionsRoot: string;
  receiptsRoot: string;
  logsBloom: string;
  difficulty: string;
  number: string;
  gasLimit: string;
  gasUsed: string;
  timestamp: string;
  extraData: string;
  mixHash: string;
  nonce: string;
  baseFeePerGas?: string;
  withdrawalsRoot?: string;
  blobGasUsed?: string;
  excessBlobGas?: string;
  parentBeaconBlockRoot?: string;
  requestsHash?: string;
};

/**
 * Thrown when an encoded header does not hash to the block's hash (an unknown fork or a lying node).
 * @example
 * ```ts
 * try { encodeBlockHeader(raw); } catch (e) { if (e instanceof BlockHeaderError) console.error(e.details); }
 * ```
 */
export class BlockHeaderError extends MaruError {
  override name = "BlockHeaderError";
}

/** An RLP quantity: the minimal big-endian bytes of a hex number (none for 0). */
export const rlpQuantity = (hex: string) => (BigInt(hex) === 0n ? "0x" : toBeArray(BigInt(hex)));

/**
 * The RLP encoding of a block header, as the chain hashes it: `keccak256(encodeBlockHeader(b)) ==
 * b.hash`. Optional fields are appended in fork order while present (London's base fee, Shanghai's
 * withdrawals root, Cancun's blob gas and beacon root, Prague's requests hash). Throws
 * {@link BlockHeaderError} if the encoding does not hash to `b.hash`.
 *
 * @example
 * ```ts
 * const raw = await provider.send("eth_getBlockByNumber", ["0x10", false]);
 * const header = encodeBlockHeader(raw); // what BlockHashOracle.proveAncestors takes
 * ```
 */
export function encodeBlockHeader(b: RpcBlock): string {
  const fields: Array<string | Uint8Array> = [
    b.parentHash,
    b.sha3Uncles,
    b.miner,
    b.stateRoot,
    b.transactionsRoot,
    b.receiptsRoot,
    b.logsBloom,
    rlpQuantity(b.difficulty),
    rlpQuantity(b.number),
    rlpQuantity(b.gasLimit),
    rlpQuantity(b.gasUsed),
    rlpQuantity(b.timestamp),
    b.extraData,
    b.mixHash,
    b.nonce,
  ];
  const optional: Array<[string | undefined, boolean]> = [
    [b.baseFeePerGas, true],
    [b.withdrawalsRoot, false],
    [b.blobGasUsed, true],
    [b.excessBlobGas, true],
    [b.parentBeaconBlockRoot, false],
    [b.requestsHash, false],
  ];
  for (const [value, isQuantity] of optional) {
    if (value === undefined) break;
    fields.push(isQuantity ? rlpQuantity(value) : value);
  }
  const encoded = encodeRlp(fields.map((f) => (typeof f === "string" ? getBytes(f) : f)));
  const hash = keccak256(encoded);
  if (hash !== b.hash) {
    throw new BlockHeaderError(`The header of block ${BigInt(b.number)} does not hash to its hash`, {
      details: [`block hash: ${b.hash}`, `encoded header hashes to: ${hash}`],
      fix: "The chain may use header fields this encoder does not know (a newer fork or an L2); report it.",
    });
  }
  return encoded;
}

/** Anything that sends JSON-RPC requests (an ethers `JsonRpcProvider` does). */
export type RpcSender = { send(method: string, params: unknown[]): Promise<unknown> };

/**
 * The headers `BlockHashOracle.proveAncestors(chainId, from, headers)` needs to prove block `to`
 * (< from): the headers of `from`, `from - 1`, …, `to + 1`, newest first, each checked against its
 * hash. Split long walks into steps, each starting where the previous ended.
 *
 * @example
 * ```ts
 * const headers = await ancestorWalk(provider, tip - 8_000n, target);
 * await oracle.proveAncestors(chainId, tip - 8_000n, headers);
 * ```
 */
export async function ancestorWalk(provider: RpcSender, from: bigint, to: bigint): Promise<string[]> {
  if (to >= from) throw new MaruError(`ancestorWalk walks back: \`to\` (${to}) must be below \`from\` (${from})`);
  const out: string[] = [];
  for (let n = from; n > to; --n) {
    const raw = (await provider.send("eth_getBlockByNumber", ["0x" + n.toString(16), false])) as RpcBlock | null;
    if (!raw) throw new BlockHeaderError(`The node has no block ${n}`);
    out.push(encodeBlockHeader(raw));
  }
  return out;
}
