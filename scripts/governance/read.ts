// The read commands (list-operators, list-streams, graph): what is registered, and the graph an
// epoch pinned, as tables for people or JSON for scripts. Built on the client's read helpers
// (client/read) and syncGraph, the code the worker runs, so the CLI shows what a worker sees.
import { getAddress, type Provider } from "ethers";
import { chainSourceOf } from "../../client/actions/readChainLogs.js";
import { MaruError } from "../../client/errors/base.js";
import { listOperators, listStreams, getEpoch, type OperatorInfo, type StreamInfo } from "../../client/read/index.js";
import { syncGraph, type SyncGraphReturnType } from "../../client/registry/syncGraph.js";
import { bytes32ToArweaveId } from "../../client/arweave/ids.js";
import { inBlockRanges } from "../../client/events/logRanges.js";
import type { Protocol } from "../../client/contracts.js";
import { EpochManager__factory } from "../../typechain-types/factories/contracts/epochs/EpochManager.sol/EpochManager__factory.js";
import { OperatorRegistry__factory } from "../../typechain-types/factories/contracts/registry/OperatorRegistry__factory.js";
import { StreamInbox__factory } from "../../typechain-types/factories/contracts/inbox/StreamInbox__factory.js";
import type { AddressBook } from "./operations.js";

export type ReadContext = { provider: Provider; book: AddressBook };

/** The parts of a Protocol the read helpers use; the governance book names no more than these. */
function protocolOf(ctx: ReadContext): Protocol {
  const registry = OperatorRegistry__factory.connect(ctx.book.registry, ctx.provider);
  const epochs = ctx.book.epochManager
    ? EpochManager__factory.connect(ctx.book.epochManager, ctx.provider)
    : (undefined as never);
  return { registry, epochs } as unknown as Protocol;
}

/**
 * Every page of a paged read helper. An empty page ends it even when the page says there is more:
 * a load-balanced RPC may answer the count and the page at different blocks, and asking again from
 * the same place would loop forever.
 */
export async function allPages<T>(read: (from: number) => Promise<{ items: T[]; next?: number }>): Promise<T[]> {
  const items: T[] = [];
  for (let from: number | undefined = 0; from !== undefined;) {
    const page = await read(from);
    if (!page.items.length) break;
    items.push(...page.items);
    from = page.next !== undefined && page.next > from ? page.next : undefined;
  }
  return items;
}

/** A stream as the CLI shows it: its appenders too, for INBOX streams, from the inbox's events. */
export type StreamRow = StreamInfo & { appenders?: string[] };

/** Every registered operator. */
export async function readOperators(ctx: ReadContext): Promise<OperatorInfo[]> {
  const p = protocolOf(ctx);
  return allPages((from) => listOperators(p, { from, limit: 100 }));
}

/**
 * Every registered stream, named where `names` hash to its id; INBOX streams with the accounts
 * allowed to append now (the last AppenderSet event per account, read from `fromBlock`).
 */
export async function readStreams(ctx: ReadContext, names: string[] = []): Promise<StreamRow[]> {
  const p = protocolOf(ctx);
  const streams: StreamRow[] = await allPages((from) => listStreams(p, { from, limit: 100, names }));
  if (!ctx.book.streamInbox) return streams;
  const inbox = StreamInbox__factory.connect(ctx.book.streamInbox, ctx.provider);
  const allowed = new Map<string, Map<string, boolean>>();
  const logs = await inBlockRanges(
    (from, to) => inbox.queryFilter(inbox.filters.AppenderSet(), from, to),
    ctx.book.startBlock ?? 0,
    await ctx.provider.getBlockNumber(),
  );
  for (const log of logs) {
    const byAccount = allowed.get(log.args.stream) ?? new Map<string, boolean>();
    byAccount.set(log.args.account, log.args.allowed);
    allowed.set(log.args.stream, byAccount);
  }
  for (const s of streams) {
    if (s.sourceKind !== "INBOX") continue;
    s.appenders = [...(allowed.get(s.id) ?? new Map<string, boolean>())].filter(([, ok]) => ok).map(([a]) => a);
  }
  return streams;
}

/**
 * The graph pinned for `epoch` (at its freeze), replayed from the registry's events and checked
 * against the pinned hash, its blobs downloaded from `gateway` and checked, exactly as a worker
 * syncs it (client/registry/syncGraph.ts).
 */
export async function readGraph(ctx: ReadContext, epoch: bigint, gateway: string): Promise<SyncGraphReturnType> {
  if (!ctx.book.epochManager) throw new MaruError("The addresses book has no epochManager.");
  const e = await getEpoch(protocolOf(ctx), epoch);
  if (!e.frozen)
    throw new MaruError(`Epoch ${epoch} is not frozen yet (${e.phase}): no graph is pinned for it.`, {
      fix: `pinned graphs: epochs up to ${e.currentEpoch}${e.phase === "open" ? "" : " and the next once frozen"}.`,
    });
  return syncGraph({
    provider: ctx.provider,
    epochManager: ctx.book.epochManager,
    registry: ctx.book.registry,
    epoch,
    gateway,
    fromBlock: ctx.book.startBlock ?? 0,
  });
}

/** Plain JSON for --json: bigints as decimal strings, blobs as their sizes. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? { bytes: v.length } : v),
    2,
  );
}

/** A fixed-width table: a header row, a rule, then the rows. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

const short = (hex: string) => `${hex.slice(0, 10)}…`;

/** A stream id as a person reads it: its name when known, else the id's first bytes. */
function streamLabel(id: string, names: Map<string, string>): string {
  return names.get(id.toLowerCase()) ?? short(id);
}

export function operatorTable(ops: OperatorInfo[], names: Map<string, string>): string[] {
  if (!ops.length) return ["no operator is registered"];
  return table(
    ["id", "name", "version", "inputs → outputs", "content hash", "definition / bytecode (Arweave)", "deprecated"],
    ops.map((o) => [
      String(o.id),
      o.name,
      String(o.version),
      `${o.inputs.map((i) => streamLabel(i, names)).join(", ")} → ${o.outputs.map((i) => streamLabel(i, names)).join(", ")}`,
      o.contentHash,
      `${o.definitionTxId} / ${o.bytecodeTxId}`,
      o.deprecated ? "yes" : "no",
    ]),
  );
}

/** A CHAIN stream's source: the chain, the contract and the event topic (or why it cannot be read). */
function chainText(s: StreamRow): string {
  try {
    const c = chainSourceOf({ ...s, sourceChainId: s.sourceChainId!, sourceDescriptor: s.sourceDescriptor! });
    return `logs of ${getAddress(c.emitter)} on chain ${c.chainId}, topic ${c.topic0}`;
  } catch (e) {
    return `unreadable: ${(e as Error).message.split("\n")[0]}`;
  }
}

const partitionText = (p: StreamInfo["partition"]) => (p.kind === 0 ? "WHOLE" : `SLICE:${p.offset}:${p.length}`);

export function streamTable(streams: StreamRow[]): string[] {
  if (!streams.length) return ["no stream is registered"];
  return table(
    ["id", "name", "schema hash", "partition", "source", "producer / appenders / logs read"],
    streams.map((s) => [
      s.id,
      s.name ?? "?",
      s.schemaHash,
      partitionText(s.partition),
      s.sourceKind,
      s.sourceKind === "INBOX"
        ? s.appenders === undefined
          ? "(no streamInbox in the book)"
          : s.appenders.join(", ") || "none allowed"
        : s.sourceKind === "CHAIN"
          ? chainText(s)
          : s.producer === undefined
            ? "-"
            : `operator ${s.producer}`,
    ]),
  );
}

export function graphText(g: SyncGraphReturnType, names: Map<string, string>): string[] {
  const streams = table(
    ["stream", "name", "partition", "source", "producer"],
    g.streams.map((s) => [
      s.id,
      names.get(s.id.toLowerCase()) ?? "?",
      partitionText(s.partition as StreamInfo["partition"]),
      ["INBOX", "CHAIN", "DERIVED"][Number(s.sourceKind)],
      s.producer === null ? "-" : `operator ${s.producer}`,
    ]),
  );
  const ops = table(
    ["id", "name", "version", "status", "inputs → outputs", "definition / bytecode (Arweave, verified)"],
    g.operators
      .filter(Boolean)
      .map((o) => [
        String(o.id),
        o.name,
        String(o.version),
        o.status,
        `${o.inputs.map((i) => streamLabel(i, names)).join(", ")} → ${o.outputs.map((i) => streamLabel(i, names)).join(", ")}`,
        `${bytes32ToArweaveId(o.definitionTxId)} / ${bytes32ToArweaveId(o.bytecodeTxId)}`,
      ]),
  );
  return [
    `epoch ${g.epoch}: graph version ${g.version}, hash ${g.graphHash} (replayed from the registry's events and equal)`,
    "",
    ...streams,
    "",
    ...(g.operators.some(Boolean) ? ops : ["no operator in this graph"]),
  ];
}
