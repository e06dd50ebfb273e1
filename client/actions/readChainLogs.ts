// A CHAIN source (docs/protocol.md §9): a contract's event logs on a chain, read by every holder
// itself from final blocks, each block's logs taken from receipts checked against its hash. A
// stream registered with `sourceKind` CHAIN names its source with the registry's three fields:
// `sourceChainId` is the chain, `sourceDescriptor` the emitting contract's address (left-padded to
// 32 bytes), and `schemaHash` the event's topic 0, keccak256 of its canonical signature (so
// `schemaHash("Transfer(address,address,uint256)")` is that event's topic).
import {
  EventFragment,
  ParamType,
  getAddress,
  getBytes,
  id,
  isHexString,
  keccak256,
  toQuantity,
  zeroPadValue,
} from "ethers";
import type { Provider } from "ethers";
import { toBytes } from "../math/values.js";
import { MaruError } from "../errors/base.js";
import type { InboxDelta } from "./readInbox.js";
import { encodeBlockHeader, type RpcBlock } from "../oracle/headers.js";
import { receiptsRoot, type RpcReceipt } from "../oracle/receipts.js";

/** A CHAIN stream's source cannot be read: its registration, the RPC, or what the RPC returned. */
export class ChainSourceError extends MaruError {
  override name = "ChainSourceError";
}

/** Where a CHAIN stream's deltas come from. */
export type ChainSource = { chainId: bigint; emitter: string; topic0: string };

/** A delta's time is its position on the chain: (block << 32) | log index, both below 2^32. */
export function logTime(blockNumber: number, logIndex: number): bigint {
  if (!(Number.isInteger(blockNumber) && blockNumber >= 0 && blockNumber < 2 ** 32))
    throw new ChainSourceError(`Block ${blockNumber} is out of range for a delta's time (below 2^32)`);
  if (!(Number.isInteger(logIndex) && logIndex >= 0 && logIndex < 2 ** 32))
    throw new ChainSourceError(`Log index ${logIndex} is out of range for a delta's time (below 2^32)`);
  return (BigInt(blockNumber) << 32n) | BigInt(logIndex);
}

/** The inverse of {@link logTime}. */
export function logPosition(time: bigint): { blockNumber: number; logIndex: number } {
  return { blockNumber: Number(time >> 32n), logIndex: Number(time & 0xffffffffn) };
}

/** `event` parsed ("Name(type,…)", with or without `event`), or a ChainSourceError that says how to write it. */
function eventFragment(event: string): EventFragment {
  try {
    return EventFragment.from(event.startsWith("event ") ? event : `event ${event}`);
  } catch (e) {
    throw new ChainSourceError(`"${event}" is not an event signature`, {
      fix: 'give it as Name(type,…), e.g. "Transfer(address,address,uint256)"',
      cause: e,
    });
  }
}

/**
 * The registry fields of a CHAIN stream reading `event` (a signature such as
 * "Transfer(address indexed from, address indexed to, uint256 value)" or its canonical form)
 * from `emitter` on chain `chainId`.
 */
export function chainSourceSpec(chainId: bigint | number, emitter: string, event: string) {
  const fragment = eventFragment(event);
  if (fragment.anonymous)
    throw new ChainSourceError(`Event ${fragment.name} is anonymous: it has no topic 0 to read by`);
  let address: string;
  try {
    address = getAddress(emitter);
  } catch (e) {
    throw new ChainSourceError(`"${emitter}" is not an address`, { cause: e });
  }
  if (BigInt(chainId) <= 0n) throw new ChainSourceError(`Chain id ${chainId} is not a chain`);
  return {
    schemaHash: id(fragment.format("sighash")),
    sourceChainId: BigInt(chainId),
    sourceDescriptor: zeroPadValue(address, 32).toLowerCase(),
    canonical: fragment.format("sighash"),
  };
}

/** Where each field of an event sits in its log's delta data: word `i` is bytes [32i, 32i + 32). */
export type LogLayout = {
  fields: Array<{ name: string; type: string; indexed: boolean; word: number }>;
  /** Bytes always present: one word per indexed field, then the static head of the others. */
  headBytes: number;
  /** Whether the data may run past the head (a non-indexed dynamic field's tail). */
  dynamic: boolean;
};

/** The head words of a static ABI type, or undefined for a dynamic one. */
function staticWords(p: ParamType): number | undefined {
  if (p.type === "string" || p.type === "bytes") return undefined;
  if (p.isArray()) {
    if (p.arrayLength < 0) return undefined;
    const each = staticWords(p.arrayChildren);
    return each === undefined ? undefined : each * p.arrayLength;
  }
  if (p.isTuple()) {
    let sum = 0;
    for (const c of p.components) {
      const w = staticWords(c);
      if (w === undefined) return undefined;
      sum += w;
    }
    return sum;
  }
  return 1;
}

/** The layout of `event`'s delta data: its indexed fields (topics after the first), then the rest as ABI-encoded. */
export function logLayout(event: string): LogLayout {
  const f = eventFragment(event);
  const indexed = f.inputs.filter((x) => x.indexed);
  const rest = f.inputs.filter((x) => !x.indexed);
  const fields: LogLayout["fields"] = [];
  let word = 0;
  for (const x of indexed) fields.push({ name: x.name, type: x.type, indexed: true, word: word++ });
  let dynamic = false;
  for (const x of rest) {
    // A dynamic field is one head word (an offset) and a tail; a static one is inline: one word
    // for a basic type, k·size for T[k], the sum of its parts for a tuple.
    const words = staticWords(x);
    if (words === undefined) dynamic = true;
    fields.push({ name: x.name, type: x.type, indexed: false, word });
    word += words ?? 1;
  }
  return { fields, headBytes: 32 * word, dynamic };
}

/** The source of a registered CHAIN stream, from its registry fields. */
export function chainSourceOf(stream: {
  id?: string;
  sourceChainId: bigint | number;
  sourceDescriptor: string;
  schemaHash: string;
}): ChainSource {
  const d = stream.sourceDescriptor.toLowerCase();
  if (!isHexString(d, 32) || !d.startsWith("0x000000000000000000000000") || BigInt(d) === 0n)
    throw new ChainSourceError(
      `Stream ${stream.id ?? ""}: its source descriptor ${d} is not an address left-padded to 32 bytes`,
      { fix: "register CHAIN streams with gov register-stream --source CHAIN --emitter <address> --event <signature>" },
    );
  return {
    chainId: BigInt(stream.sourceChainId),
    emitter: `0x${d.slice(26)}`,
    topic0: stream.schemaHash.toLowerCase(),
  };
}

/** The data of a log's delta: its topics after the first, then its data (the event's words). */
export function logData(log: { topics: readonly string[]; data: string }): Uint8Array {
  return toBytes(`0x${[...log.topics.slice(1), log.data].map((x) => x.slice(2)).join("")}`, "log data");
}

/** Whether the 2048-bit bloom `bloom` may contain `value` (Ethereum's logsBloom, yellow paper §4.3.1). */
export function bloomMayContain(bloom: string, value: string): boolean {
  const b = getBytes(bloom);
  const h = getBytes(keccak256(value));
  for (let i = 0; i < 6; i += 2) {
    const bit = ((h[i] << 8) | h[i + 1]) & 2047;
    if ((b[255 - (bit >> 3)] & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

export type ReadChainLogsOptions = {
  /** Attempts per call before giving up (with backoff from 250 ms). Default 5. */
  attempts?: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function retry<T>(what: string, attempts: number, f: () => Promise<T>): Promise<T> {
  for (let i = 1; ; ++i) {
    try {
      return await f();
    } catch (e) {
      if (e instanceof ChainSourceError || i >= attempts)
        throw e instanceof ChainSourceError
          ? e
          : new ChainSourceError(
              `${what} failed ${attempts} times: ${String((e as Error)?.message ?? e)
                .split("\n")[0]
                .replace(/\/\/[^@/]*@/, "//…@")}`,
              { cause: e, fix: "check the RPC (--rpc): it must answer eth_getBlockByNumber and eth_getBlockReceipts" },
            );
      await sleep(250 * 2 ** (i - 1));
    }
  }
}

/**
 * A JSON-RPC transport: `call` one method, or `batch` several in one request. {@link jsonRpc} posts
 * to a URL and parses the answer natively (ethers decodes response bodies in JavaScript, which was
 * a tenth of a worker's time at 30,000 logs an epoch); {@link providerRpc} goes through an ethers
 * provider.
 */
export type Rpc = {
  call(method: string, params: unknown[]): Promise<unknown>;
  batch(calls: Array<[string, unknown[]]>): Promise<unknown[]>;
};

/** Requests in flight at once to a node that does not take batches. */
const SINGLE_CALLS_AT_ONCE = 8;

/**
 * JSON-RPC over HTTP(S) with fetch, one request per call or batch (one request per call, eight at a
 * time, once the node has answered a batch with a single answer); a request that takes longer than
 * `timeoutMs` fails (and is retried by the reader).
 */
export function jsonRpc(url: string, timeoutMs = 30_000): Rpc {
  let id = 0;
  const post = async (body: unknown) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText} from ${new URL(url).origin}`);
    return (await res.json()) as unknown;
  };
  const result = (r: { result?: unknown; error?: { message?: string; code?: number } }) => {
    if (r.error) throw new Error(`${r.error.message ?? "error"} (code ${r.error.code})`);
    return r.result;
  };
  const call = async (method: string, params: unknown[]) =>
    result((await post({ jsonrpc: "2.0", id: ++id, method, params })) as never);
  /** Cleared when the node answers a batch with one answer: it takes one request at a time. */
  let batches = true;
  const oneByOne = async (calls: Array<[string, unknown[]]>) => {
    const out: unknown[] = [];
    for (let i = 0; i < calls.length; i += SINGLE_CALLS_AT_ONCE)
      out.push(...(await Promise.all(calls.slice(i, i + SINGLE_CALLS_AT_ONCE).map(([m, p]) => call(m, p)))));
    return out;
  };
  return {
    call,
    batch: async (calls) => {
      if (calls.length === 0) return [];
      if (!batches) return oneByOne(calls);
      const first = id + 1;
      const answers = (await post(
        calls.map(([method, params]) => ({ jsonrpc: "2.0", id: ++id, method, params })),
      )) as Array<{
        id: number;
      }>;
      if (!Array.isArray(answers)) {
        if (calls.length === 1) return [result(answers as never)];
        // One answer to a whole batch: a node that does not take batches (JSON-RPC allows that),
        // which says so with an error. One request a call from now on: slower, the same answers.
        batches = false;
        return oneByOne(calls);
      }
      const byId = new Map(answers.map((a) => [a.id, a]));
      return calls.map((_, i) => {
        const a = byId.get(first + i);
        if (!a) throw new Error(`no answer to request ${first + i} of a batch`);
        return result(a as never);
      });
    },
  };
}

/** JSON-RPC through an ethers provider that has `send` (a JsonRpcProvider). */
export function providerRpc(provider: Provider): Rpc {
  const send = (provider as { send?: (method: string, params: unknown[]) => Promise<unknown> }).send;
  if (typeof send !== "function")
    throw new ChainSourceError("Reading a CHAIN source needs a JSON-RPC provider (its block headers' blooms)");
  const call = (method: string, params: unknown[]) => send.call(provider, method, params);
  return { call, batch: (calls) => Promise.all(calls.map(([m, p]) => call(m, p))) };
}

/**
 * The fastest transport to `provider`'s node: its HTTP URL directly when that is all the provider
 * adds (no credentials in the URL, no headers of its own); otherwise through the provider.
 */
export function rpcOf(provider: Provider): Rpc {
  const connection = (
    provider as {
      _getConnection?: () => { url: string; headers: Record<string, string>; preflightFunc: unknown };
    }
  )._getConnection?.();
  const plain =
    connection !== undefined &&
    /^https?:\/\/[^@/]+(\/|$)/.test(connection.url) &&
    // ethers' own default header is harmless; any other (an API key, say) must go through the provider.
    Object.keys(connection.headers ?? {}).every((h) => h.toLowerCase() === "accept-encoding") &&
    !connection.preflightFunc; // a request hook (signed or refreshed auth) must keep running
  return plain ? jsonRpc(connection.url) : providerRpc(provider);
}

/**
 * The receipts of `blocks`, in one batch when the node takes it; a batch that fails is halved
 * (a busy chain's receipts for many blocks can pass a node's response limit) down to one block,
 * which is retried with backoff.
 */
async function receiptsOf(t: Rpc, blocks: number[], attempts: number): Promise<unknown[]> {
  const ask = (bs: number[]) => t.batch(bs.map((n) => ["eth_getBlockReceipts", [toQuantity(n)]]));
  if (blocks.length === 1) return retry(`eth_getBlockReceipts ${blocks[0]}`, attempts, () => ask(blocks));
  try {
    return await ask(blocks);
  } catch {
    const half = Math.ceil(blocks.length / 2);
    return [
      ...(await receiptsOf(t, blocks.slice(0, half), attempts)),
      ...(await receiptsOf(t, blocks.slice(half), attempts)),
    ];
  }
}

/** Blocks per batch of header and receipt requests. */
const BATCH = 50;

/**
 * The deltas of each of `sources` in blocks `fromBlock … toBlock` (which must be final: the caller's
 * finality rule), in chain order, one list per source in the order given: the headers and receipts
 * are read and checked once for all of them. Each log of a source's contract and topic becomes one
 * delta: data {@link logData}, time {@link logTime}, diff 1; `index` is its time too. A source
 * listed twice is a {@link ChainSourceError}.
 *
 * Nothing the RPC says is taken on its word but the block hashes themselves: every header in the
 * range must RLP-encode to its hash; for each block whose `logsBloom` may hold the contract and the
 * topic, the block's receipts (`eth_getBlockReceipts`) must build the header's `receiptsRoot`, and
 * the logs are taken from them, numbered in block order. A log cannot be dropped, changed or added
 * without changing a root the hash commits to; a block the bloom rules out has none. Calls are
 * retried with backoff; what still fails is a {@link ChainSourceError} that says which call.
 *
 * @example
 * ```ts
 * const source = chainSourceOf(stream);
 * const deltas = await readChainLogs(rpcOf(provider), source, from, to);
 * const [transfers, approvals] = await readChainSources(rpcOf(provider), [t, a], from, to); // one read of the blocks
 * ```
 */
export async function readChainSources(
  rpc: Rpc | Provider,
  sources: ChainSource[],
  fromBlock: number,
  toBlock: number,
  options: ReadChainLogsOptions = {},
): Promise<InboxDelta[][]> {
  const t: Rpc = "batch" in rpc && "call" in rpc ? rpc : providerRpc(rpc);
  const attempts = options.attempts ?? 5;
  const wants = sources.map((s) => ({ emitter: s.emitter.toLowerCase(), topic0: s.topic0.toLowerCase() }));
  // Which list a log goes to, by contract and topic 0. A source listed twice would put each of
  // its logs in two lists at one time (two deltas at one position): refused.
  const listOf = new Map<string, InboxDelta[]>();
  const lists = wants.map((w) => {
    const key = `${w.emitter}|${w.topic0}`;
    if (listOf.has(key))
      throw new ChainSourceError(`The logs of ${w.emitter} with topic ${w.topic0} are listed twice`, {
        fix: "read each (contract, event) once: one CHAIN stream per event, consumed by as many operators as need it",
      });
    const list: InboxDelta[] = [];
    listOf.set(key, list);
    return list;
  });
  let parent: string | undefined;
  for (let at = fromBlock; at <= toBlock; at += BATCH) {
    const numbers = Array.from({ length: Math.min(BATCH, toBlock - at + 1) }, (_, i) => at + i);
    const range = `${numbers[0]}-${numbers[numbers.length - 1]}`;
    const headers = (await retry(`eth_getBlockByNumber ${range}`, attempts, () =>
      t.batch(numbers.map((n) => ["eth_getBlockByNumber", [toQuantity(n), false]])),
    )) as Array<RpcBlock | null>;
    if (headers.length !== numbers.length)
      throw new ChainSourceError(`The RPC answered ${headers.length} of ${numbers.length} header requests`);
    const wanted: RpcBlock[] = [];
    for (const [i, header] of headers.entries()) {
      if (!header || Number(header.number) !== numbers[i])
        throw new ChainSourceError(`The RPC has no block ${numbers[i]}, below the final block`);
      try {
        encodeBlockHeader(header); // throws unless the header's fields hash to its hash
      } catch (e) {
        throw new ChainSourceError(`Block ${numbers[i]}: the RPC's header does not hash to its hash`, {
          cause: e,
          fix: "use an RPC that serves this chain's canonical headers; if it does, the chain has header fields this reader does not know (a newer fork or an L2): report it",
        });
      }
      // Consecutive headers must link: an RPC behind a load balancer that serves a block of a
      // dropped fork among canonical ones is caught here.
      if (parent !== undefined && header.parentHash.toLowerCase() !== parent)
        throw new ChainSourceError(
          `Block ${numbers[i]}: its parent hash ${header.parentHash} is not block ${numbers[i] - 1}'s hash ${parent}`,
          { fix: "the RPC mixes forks; use an RPC that serves this chain's final blocks consistently" },
        );
      parent = header.hash.toLowerCase();
      if (
        wants.some((w) => bloomMayContain(header.logsBloom, w.emitter) && bloomMayContain(header.logsBloom, w.topic0))
      )
        wanted.push(header);
    }
    if (wanted.length === 0) continue;
    const receipts = (await receiptsOf(
      t,
      wanted.map((h) => Number(h.number)),
      attempts,
    )) as Array<RpcReceipt[] | null>;
    if (receipts.length !== wanted.length)
      throw new ChainSourceError(`The RPC answered ${receipts.length} of ${wanted.length} receipt requests`);
    for (const [i, header] of wanted.entries()) {
      const n = Number(header.number);
      const list = receipts[i];
      if (!Array.isArray(list)) throw new ChainSourceError(`The RPC has no receipts for block ${n}`);
      let root: string;
      try {
        root = await receiptsRoot(list);
      } catch (e) {
        throw new ChainSourceError(`Block ${n}: its receipts cannot be encoded`, { cause: e });
      }
      if (root !== header.receiptsRoot.toLowerCase())
        throw new ChainSourceError(
          `Block ${n}: the RPC's receipts build root ${root}, the header commits to ${header.receiptsRoot}`,
          {
            details: [`receipt types in the block: ${[...new Set(list.map((r) => Number(r.type ?? 0)))].join(", ")}`],
            fix: "the RPC served receipts that are not this block's (use an RPC that serves this chain's blocks), or the chain has a receipt type this reader does not encode: report it",
          },
        );
      let logIndex = 0;
      for (const r of list)
        for (const log of r.logs) {
          const list = listOf.get(`${log.address.toLowerCase()}|${(log.topics[0] ?? "").toLowerCase()}`);
          if (list) {
            const time = logTime(n, logIndex);
            list.push({ data: logData(log), time, diff: 1n, index: time, blockNumber: n });
          }
          logIndex += 1;
        }
    }
  }
  return lists;
}

/**
 * The deltas of `source` in blocks `fromBlock … toBlock`: {@link readChainSources} for one source.
 * @example
 * ```ts
 * const deltas = await readChainLogs(rpcOf(provider), chainSourceOf(stream), from, to);
 * ```
 */
export async function readChainLogs(
  rpc: Rpc | Provider,
  source: ChainSource,
  fromBlock: number,
  toBlock: number,
  options: ReadChainLogsOptions = {},
): Promise<InboxDelta[]> {
  return (await readChainSources(rpc, [source], fromBlock, toBlock, options))[0];
}
