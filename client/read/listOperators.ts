import type { Protocol } from "../contracts.js";
import { bytes32ToArweaveId } from "../arweave/ids.js";
import { nextOf, pageOf, type Page, type PageParameters } from "./page.js";

/** A registered operator ({@link listOperators}). */
export type OperatorInfo = {
  /** Its id (registration order, from 0). */
  id: number;
  name: string;
  version: number;
  /** Deprecated operators stay listed; their outputs may have a new producer. */
  deprecated: boolean;
  /** Input and output stream ids (bytes32). */
  inputs: string[];
  outputs: string[];
  /** keccak256(abi.encode(definitionHash, bytecodeHash)); both hashes are in its OperatorRegistered event. */
  contentHash: string;
  /** Arweave transaction ids (43 characters of base64url) of its definition and wasm bytecode. */
  definitionTxId: string;
  bytecodeTxId: string;
};

/**
 * Lists the registry's operators by id, one page at a time (one call per page of up to 500).
 *
 * @example
 * ```ts
 * for (let from: number | undefined = 0; from !== undefined; ) {
 *   const page = await listOperators(maru, { from, limit: 100 });
 *   for (const op of page.items) console.log(op.id, op.name, op.deprecated ? "(deprecated)" : "");
 *   from = page.next;
 * }
 * ```
 */
export async function listOperators(p: Protocol, opts: PageParameters = {}): Promise<Page<OperatorInfo>> {
  const { from, limit } = pageOf(opts);
  const [[, total], records] = await Promise.all([p.registry.counts(), p.registry.operators(from, limit)]);
  const items = records.map((r): OperatorInfo => ({
    id: Number(r.id),
    name: r.name,
    version: Number(r.version),
    deprecated: r.status === 2n, // OperatorStatus.DEPRECATED
    inputs: [...r.inputs],
    outputs: [...r.outputs],
    contentHash: r.contentHash,
    definitionTxId: bytes32ToArweaveId(r.definitionTxId),
    bytecodeTxId: bytes32ToArweaveId(r.bytecodeTxId),
  }));
  return { items, total: Number(total), next: nextOf(from, items.length, Number(total)) };
}
