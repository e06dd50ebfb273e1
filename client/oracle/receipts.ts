// A block's receipts, checked against its header: the receipts trie's root (Ethereum's Merkle
// Patricia trie, keys rlp(index), values the EIP-2718 receipt encodings) must be the header's
// `receiptsRoot`. With the header's own hash checked (./headers.ts), a block's logs are then
// exactly what the block holds: none dropped, none changed, none added (a CHAIN source reads its
// logs this way: ../actions/readChainLogs.ts).
import { createMPT } from "@ethereumjs/mpt";
import { hexlify } from "ethers";
import { toBytes } from "../math/values.js";
import { keccakBytes } from "../math/wasm.js";
import { rlpEncode, type RlpItem } from "./rlp.js";
import { MaruError } from "../errors/base.js";
import { rlpQuantity } from "./headers.js";

/** A receipt as eth_getBlockReceipts / eth_getTransactionReceipt return it. */
export type RpcReceipt = {
  type?: string;
  /** Post-Byzantium: 0x1 success, 0x0 failure. */
  status?: string;
  /** Pre-Byzantium: the intermediate state root instead of a status. */
  root?: string;
  cumulativeGasUsed: string;
  logsBloom: string;
  logs: Array<{ address: string; topics: string[]; data: string }>;
  transactionIndex?: string;
  blockHash?: string;
  /** OP Stack deposit receipts (type 0x7e) from Canyon on: both are part of the hashed encoding. */
  depositNonce?: string;
  depositReceiptVersion?: string;
};

/** The type of OP Stack deposit transactions. */
const DEPOSIT_TYPE = 0x7en;

/** A receipt or a set of receipts does not match what the block commits to. */
export class ReceiptsError extends MaruError {
  override name = "ReceiptsError";
}

const b = (x: string | Uint8Array) => (typeof x === "string" ? toBytes(x, "receipt field") : x);

/** The receipt as the receipts trie holds it: rlp([status, cumulativeGas, bloom, logs]), typed ones behind their type byte. */
export function encodeReceipt(r: RpcReceipt): Uint8Array {
  const outcome = r.status !== undefined ? rlpQuantity(r.status) : r.root;
  if (outcome === undefined) throw new ReceiptsError("A receipt has neither a status nor a state root");
  const type = BigInt(r.type ?? "0x0");
  const fields: RlpItem[] = [
    b(outcome),
    b(rlpQuantity(r.cumulativeGasUsed)),
    b(r.logsBloom),
    r.logs.map((l) => [b(l.address), l.topics.map(b), b(l.data)]),
  ];
  // OP Stack (op-geth's Receipt.EncodeIndex): from Canyon on, a deposit receipt with a receipt
  // version hashes its deposit nonce and version too; earlier ones hash the four fields.
  if (type === DEPOSIT_TYPE && r.depositReceiptVersion !== undefined) {
    if (r.depositNonce === undefined) throw new ReceiptsError("A deposit receipt has a version but no deposit nonce");
    fields.push(b(rlpQuantity(r.depositNonce)), b(rlpQuantity(r.depositReceiptVersion)));
  }
  const payload = rlpEncode(fields);
  if (type === 0n) return payload;
  if (type > 0x7fn) throw new ReceiptsError(`Receipt type ${type} is not an EIP-2718 type`);
  const typed = new Uint8Array(payload.length + 1);
  typed[0] = Number(type);
  typed.set(payload, 1);
  return typed;
}

/**
 * The root of the receipts trie of `receipts` (in transaction order), as a block header's
 * `receiptsRoot` commits to it.
 * @example
 * ```ts
 * const receipts = await provider.send("eth_getBlockReceipts", [toQuantity(n)]);
 * if ((await receiptsRoot(receipts)) !== header.receiptsRoot) throw new Error("not this block's receipts");
 * ```
 */
export async function receiptsRoot(receipts: RpcReceipt[]): Promise<string> {
  // The trie's node hashes with the math core's keccak (WebAssembly): its default, noble's in
  // JavaScript, was a twentieth of a CHAIN holder's time.
  const trie = await createMPT({ useKeyHashingFunction: keccakBytes });
  for (const [i, r] of receipts.entries())
    await trie.put(rlpEncode(b(rlpQuantity(`0x${i.toString(16)}`))), encodeReceipt(r));
  return hexlify(trie.root());
}
