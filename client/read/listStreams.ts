import { id as keccakId } from "ethers";
import type { Protocol } from "../contracts.js";
import type { PartitionSpec } from "../math/sharding.js";
import { nextOf, pageOf, type Page, type PageParameters } from "./page.js";

/** Where a stream's deltas come from (Solidity: `IOperatorRegistry.SourceKind`). */
export type SourceKind = "INBOX" | "CHAIN" | "DERIVED";
const SOURCE_KINDS: SourceKind[] = ["INBOX", "CHAIN", "DERIVED"];

/** A registered stream ({@link listStreams}). */
export type StreamInfo = {
  /** Its registration index. */
  index: number;
  /** Its id (bytes32; by convention keccak256 of its name). */
  id: string;
  /** Its name, when one of the `names` given hashes to its id (the chain stores no names). */
  name?: string;
  schemaHash: string;
  partition: PartitionSpec;
  sourceKind: SourceKind;
  /** CHAIN streams: the source chain and which contract/topic there. */
  sourceChainId?: bigint;
  sourceDescriptor?: string;
  /** The operator producing it (DERIVED streams with an active producer). */
  producer?: number;
};

/** Options of {@link listStreams}. */
export type ListStreamsParameters = PageParameters & {
  /** Names to label streams with: a stream whose id is keccak256(name) gets `name`. */
  names?: string[];
};

/**
 * Lists the registry's streams in registration order, one page at a time (one call per page of
 * up to 500).
 *
 * @example
 * ```ts
 * const page = await listStreams(maru, { limit: 50, names: ["transfers", "balances"] });
 * for (const s of page.items) console.log(s.name ?? s.id, s.sourceKind, s.producer ?? "-");
 * ```
 */
export async function listStreams(p: Protocol, opts: ListStreamsParameters = {}): Promise<Page<StreamInfo>> {
  const { from, limit } = pageOf(opts);
  const byId = new Map((opts.names ?? []).map((n) => [keccakId(n), n]));
  const [[total], records] = await Promise.all([p.registry.counts(), p.registry.streams(from, limit)]);
  const items = records.map((r, i): StreamInfo => {
    const s = r.spec;
    const sourceKind = SOURCE_KINDS[Number(s.sourceKind)];
    // By position: typechain's PartitionSpec type is `never` (its `length` field clashes with the tuple's).
    const [kind, offset, length] = s.partition as unknown as [bigint, bigint, bigint];
    return {
      index: from + i,
      id: s.id,
      name: byId.get(s.id),
      schemaHash: s.schemaHash,
      partition: {
        kind: Number(kind) as PartitionSpec["kind"],
        offset: Number(offset),
        length: Number(length),
      },
      sourceKind,
      sourceChainId: sourceKind === "CHAIN" ? s.sourceChainId : undefined,
      sourceDescriptor: sourceKind === "CHAIN" ? s.sourceDescriptor : undefined,
      producer: r.hasProducer ? Number(r.producer) : undefined,
    };
  });
  return { items, total: Number(total), next: nextOf(from, items.length, Number(total)) };
}
