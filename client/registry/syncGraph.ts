import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { keccak256, type Provider } from "ethers";
import { EpochManager__factory } from "../../typechain-types/factories/contracts/epochs/EpochManager.sol/EpochManager__factory.js";
import { OperatorRegistry__factory } from "../../typechain-types/factories/contracts/registry/OperatorRegistry__factory.js";
import { BlobHashMismatchError, GatewayError, GraphIncompleteError, GraphNotPinnedError } from "../errors/registry.js";
import { bytes32ToArweaveId } from "../arweave/ids.js";
import { inBlockRanges } from "../events/logRanges.js";
import {
  changeDigest,
  EMPTY_GRAPH_HASH,
  foldGraphHash,
  GraphChangeKind,
  operatorContentHash,
  type OperatorSpec,
  type StreamSpec,
} from "./graphHash.js";

/** Parameters of {@link syncGraph}. */
export type SyncGraphParameters = {
  /** Any ethers v6 provider (JSON-RPC, fallback, …). */
  provider: Provider;
  /** The EpochManager, which pins each epoch's graph version and hash at freeze. */
  epochManager: string;
  /** The OperatorRegistry. */
  registry: string;
  /** The epoch whose graph to sync. */
  epoch: bigint;
  /** An Arweave gateway, e.g. `https://arweave.net` or arlocal's `http://127.0.0.1:1984`. */
  gateway: string;
  /** A directory for the content-addressed blob cache (files named by keccak256); none if omitted. */
  cacheDir?: string;
  /** The block the registry was deployed in (logs are read from there). Default 0. */
  fromBlock?: number;
  /** Blocks per log query, for RPCs that limit ranges. Default 10,000. */
  logChunkSize?: number;
  /** Operators per view call. Default 100. */
  pageSize?: number;
  /** The fetch to use (tests, proxies). Default the global fetch. */
  fetch?: typeof fetch;
};

/** A stream of the synced graph. */
export type SyncedStream = StreamSpec & { producer: number | null };

/** An operator of the synced graph, with its blobs when it is active at the epoch's version. */
export type SyncedOperator = OperatorSpec & {
  id: number;
  status: "ACTIVE" | "DEPRECATED";
  definition?: Uint8Array;
  bytecode?: Uint8Array;
};

/** What {@link syncGraph} returns. */
export type SyncGraphReturnType = {
  epoch: bigint;
  version: bigint;
  graphHash: string;
  streams: SyncedStream[];
  operators: SyncedOperator[];
};

type Change =
  | { version: bigint; kind: typeof GraphChangeKind.STREAM; hash: string; spec: StreamSpec }
  | {
      version: bigint;
      kind: typeof GraphChangeKind.OPERATOR;
      hash: string;
      id: number;
      partial: Pick<OperatorSpec, "name" | "version" | "definitionHash" | "bytecodeHash">;
    }
  | { version: bigint; kind: typeof GraphChangeKind.DEPRECATION; hash: string; id: number };

/**
 * Syncs the operator graph an epoch runs (docs/protocol.md §4): reads the (version, hash) the
 * EpochManager pinned at freeze, replays the registry's changes up to that version and checks that
 * they fold into the pinned hash (so the graph is provably whole), then downloads the definition
 * and bytecode of every operator active at that version from an Arweave gateway, rejecting any blob
 * whose keccak256 differs from the registered one. Blobs are cached by hash in `cacheDir`.
 *
 * @throws GraphNotPinnedError, GraphIncompleteError, BlobHashMismatchError, GatewayError
 * @example
 * ```ts
 * const graph = await syncGraph({ provider, epochManager, registry, epoch: 12n,
 *   gateway: "https://arweave.net", cacheDir: ".maru/blobs", fromBlock: 7_000_000 });
 * for (const op of graph.operators) if (op.status === "ACTIVE") runWasm(op.bytecode!);
 * ```
 */
export async function syncGraph(parameters: SyncGraphParameters): Promise<SyncGraphReturnType> {
  const { provider, epoch } = parameters;
  const em = EpochManager__factory.connect(parameters.epochManager, provider);
  const reg = OperatorRegistry__factory.connect(parameters.registry, provider);

  const info = await em.epochInfo(epoch);
  if (!info.frozen) throw new GraphNotPinnedError(epoch);
  const version = info.graphVersion;
  const pinnedHash = info.graphHash;

  // 1. The changes 1..version, from the registry's events, in log chunks.
  const changes = new Map<bigint, Change>();
  const latest = await provider.getBlockNumber();
  const from = parameters.fromBlock ?? 0;
  const chunk = parameters.logChunkSize;
  {
    const streams = await inBlockRanges(
      (a, b) => reg.queryFilter(reg.filters.StreamRegistered(), a, b),
      from,
      latest,
      chunk,
    );
    for (const log of streams) {
      const s = log.args.spec;
      // Positional: typechain's tuple type collapses a field named `length` (Array.length).
      const [keyKind, offset, length] = s.partition as unknown as [bigint, bigint, bigint];
      changes.set(log.args.graphVersion, {
        version: log.args.graphVersion,
        kind: GraphChangeKind.STREAM,
        hash: log.args.graphHash,
        spec: {
          id: s.id,
          schemaHash: s.schemaHash,
          partition: { kind: Number(keyKind), offset: Number(offset), length: Number(length) },
          sourceKind: Number(s.sourceKind),
          sourceChainId: s.sourceChainId,
          sourceDescriptor: s.sourceDescriptor,
        },
      });
    }
    const operators = await inBlockRanges(
      (a, b) => reg.queryFilter(reg.filters.OperatorRegistered(), a, b),
      from,
      latest,
      chunk,
    );
    for (const log of operators) {
      changes.set(log.args.graphVersion, {
        version: log.args.graphVersion,
        kind: GraphChangeKind.OPERATOR,
        hash: log.args.graphHash,
        id: Number(log.args.id),
        partial: {
          name: log.args.name,
          version: Number(log.args.version),
          definitionHash: log.args.definitionHash,
          bytecodeHash: log.args.bytecodeHash,
        },
      });
    }
    const deprecations = await inBlockRanges(
      (a, b) => reg.queryFilter(reg.filters.OperatorDeprecated(), a, b),
      from,
      latest,
      chunk,
    );
    for (const log of deprecations) {
      changes.set(log.args.graphVersion, {
        version: log.args.graphVersion,
        kind: GraphChangeKind.DEPRECATION,
        hash: log.args.graphHash,
        id: Number(log.args.id),
      });
    }
  }

  // 2. The immutable parts of every operator registered up to `version` (paged view).
  const operatorCount = [...changes.values()].filter(
    (c) => c.kind === GraphChangeKind.OPERATOR && c.version <= version,
  ).length;
  const records = [];
  const page = parameters.pageSize ?? 100;
  for (let offset = 0; offset < operatorCount; offset += page) records.push(...(await reg.operators(offset, page)));

  // 3. Replay and check the running hash against every event and against the pin.
  let hash = EMPTY_GRAPH_HASH;
  const streams = new Map<string, SyncedStream>();
  const operators: SyncedOperator[] = [];
  for (let v = 1n; v <= version; v++) {
    const c = changes.get(v);
    if (!c) throw new GraphIncompleteError(epoch, `change ${v} of ${version} is missing from the logs`);
    if (c.kind === GraphChangeKind.STREAM) {
      hash = foldGraphHash(hash, v, c.kind, changeDigest(c.kind, c.spec));
      streams.set(c.spec.id, { ...c.spec, producer: null });
    } else if (c.kind === GraphChangeKind.OPERATOR) {
      const r = records[c.id];
      if (!r) throw new GraphIncompleteError(epoch, `operator ${c.id} is missing from the registry's view`);
      const spec: OperatorSpec = {
        ...c.partial,
        inputs: [...r.inputs],
        outputs: [...r.outputs],
        definitionTxId: r.definitionTxId,
        bytecodeTxId: r.bytecodeTxId,
      };
      if (operatorContentHash(spec.definitionHash, spec.bytecodeHash) !== r.contentHash)
        throw new GraphIncompleteError(epoch, `operator ${c.id}'s event does not match its stored content digest`);
      hash = foldGraphHash(hash, v, c.kind, changeDigest(c.kind, spec));
      operators[c.id] = { ...spec, id: c.id, status: "ACTIVE" };
      for (const out of spec.outputs) {
        const s = streams.get(out);
        if (s) s.producer = c.id;
      }
    } else {
      hash = foldGraphHash(hash, v, c.kind, changeDigest(c.kind, c.id));
      if (operators[c.id]) operators[c.id].status = "DEPRECATED";
    }
    if (hash !== c.hash)
      throw new GraphIncompleteError(epoch, `replayed hash differs from the registry's at change ${v}`);
  }
  if (hash !== pinnedHash)
    throw new GraphIncompleteError(epoch, `replayed hash ${hash} is not the pinned ${pinnedHash}`);

  // 4. Blobs of the active operators, verified before use or caching.
  for (const op of operators) {
    if (op.status !== "ACTIVE") continue;
    op.definition = await fetchBlob(parameters, op.id, "definition", op.definitionTxId, op.definitionHash);
    op.bytecode = await fetchBlob(parameters, op.id, "bytecode", op.bytecodeTxId, op.bytecodeHash);
  }
  return { epoch, version, graphHash: pinnedHash, streams: [...streams.values()], operators };
}

async function fetchBlob(
  p: SyncGraphParameters,
  operatorId: number,
  kind: "definition" | "bytecode",
  txId: string,
  expected: string,
): Promise<Uint8Array> {
  const cachePath = p.cacheDir ? join(p.cacheDir, expected.slice(2)) : undefined;
  if (cachePath) {
    const cached = await readFile(cachePath).catch(() => undefined);
    if (cached && keccak256(cached) === expected) return new Uint8Array(cached);
  }
  const url = `${p.gateway.replace(/\/+$/, "")}/${bytes32ToArweaveId(txId)}`;
  let bytes: Uint8Array;
  try {
    const res = await (p.fetch ?? fetch)(url);
    if (!res.ok) throw new GatewayError(url, `HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError(url, (e as Error).message, e);
  }
  const actual = keccak256(bytes);
  if (actual !== expected) throw new BlobHashMismatchError(operatorId, kind, url, expected, actual);
  if (cachePath && p.cacheDir) {
    await mkdir(p.cacheDir, { recursive: true });
    const tmp = `${cachePath}.${process.pid}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, cachePath); // atomic: a reader never sees half a blob
  }
  return bytes;
}
