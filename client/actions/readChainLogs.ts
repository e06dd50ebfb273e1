// A CHAIN source (docs/protocol.md §9): a contract's event logs on a chain, read by every holder
// itself from final blocks. A stream registered with `sourceKind` CHAIN names its source with the
// registry's three fields: `sourceChainId` is the chain, `sourceDescriptor` the emitting contract's
// address (left-padded to 32 bytes), and `schemaHash` the event's topic 0, keccak256 of its
// canonical signature (so `schemaHash("Transfer(address,address,uint256)")` is that event's topic).
import { EventFragment, getAddress, getBytes, id, isHexString, keccak256, toQuantity, zeroPadValue } from "ethers";
import type { Provider } from "ethers";
import { toBytes } from "../math/values.js";
import { MaruError } from "../errors/base.js";
import type { InboxDelta } from "./readInbox.js";

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

/**
 * The registry fields of a CHAIN stream reading `event` (a signature such as
 * "Transfer(address indexed from, address indexed to, uint256 value)" or its canonical form)
 * from `emitter` on chain `chainId`.
 */
export function chainSourceSpec(chainId: bigint | number, emitter: string, event: string) {
  let fragment: EventFragment;
  try {
    fragment = EventFragment.from(event.startsWith("event ") ? event : `event ${event}`);
  } catch (e) {
    throw new ChainSourceError(`"${event}" is not an event signature`, {
      fix: 'give it as Name(type,…), e.g. "Transfer(address,address,uint256)"',
      cause: e,
    });
  }
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
  /** Blocks per eth_getLogs (halved when the RPC refuses a range as too large). Default 2,000. */
  range?: number;
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
          : new ChainSourceError(`${what} failed ${attempts} times`, { cause: e, fix: "check the RPC (--rpc)" });
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

/** A log as eth_getLogs returns it. */
export type RpcLog = {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  logIndex: string;
  removed?: boolean;
};

/** JSON-RPC over HTTP(S) with fetch, one request per call or batch; a request that takes longer than `timeoutMs` fails (and is retried by the reader). */
export function jsonRpc(url: string, timeoutMs = 30_000): Rpc {
  let id = 0;
  const post = async (body: unknown) => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText} from ${url}`);
    return (await res.json()) as unknown;
  };
  const result = (r: { result?: unknown; error?: { message?: string; code?: number } }) => {
    if (r.error) throw new Error(`${r.error.message ?? "error"} (code ${r.error.code})`);
    return r.result;
  };
  return {
    call: async (method, params) => result((await post({ jsonrpc: "2.0", id: ++id, method, params })) as never),
    batch: async (calls) => {
      if (calls.length === 0) return [];
      const first = id + 1;
      const answers = (await post(
        calls.map(([method, params]) => ({ jsonrpc: "2.0", id: ++id, method, params })),
      )) as Array<{
        id: number;
      }>;
      if (!Array.isArray(answers)) return [result(answers as never)];
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

/** The fastest transport to `provider`'s node: its HTTP URL directly when it has one. */
export function rpcOf(provider: Provider): Rpc {
  const url = (provider as { _getConnection?: () => { url: string } })._getConnection?.().url;
  return url && /^https?:\/\//.test(url) ? jsonRpc(url) : providerRpc(provider);
}

const tooLarge = (e: unknown) =>
  /range|too many|limit|exceed|10000|response size/i.test(String((e as Error)?.message ?? e));

/**
 * The deltas of `source` in blocks `fromBlock … toBlock` (which must be final: the caller's finality
 * rule), in chain order. Each log becomes one delta: data {@link logData}, time {@link logTime},
 * diff 1; `index` is its time too. What the RPC returns is checked against the headers of every
 * block in the range: each log names the source's emitter and topic, is not removed, and carries
 * the hash of the header at its height, whose logsBloom holds the emitter and the topic; a block
 * whose bloom holds both but that came back without logs is read again by its hash (an RPC that
 * drops logs is caught, not believed). Calls are retried with backoff.
 *
 * @example
 * ```ts
 * const source = chainSourceOf(stream);
 * const deltas = await readChainLogs(provider, source, from, to);
 * ```
 */
export async function readChainLogs(
  rpc: Rpc | Provider,
  source: ChainSource,
  fromBlock: number,
  toBlock: number,
  options: ReadChainLogsOptions = {},
): Promise<InboxDelta[]> {
  const t: Rpc = "batch" in rpc && "call" in rpc ? rpc : providerRpc(rpc);
  const attempts = options.attempts ?? 5;
  let range = options.range ?? 2_000;
  const emitter = source.emitter.toLowerCase();
  const getLogs = (filter: Record<string, unknown>) =>
    t.call("eth_getLogs", [{ address: emitter, topics: [source.topic0], ...filter }]) as Promise<RpcLog[]>;
  const byBlock = new Map<number, RpcLog[]>();
  const take = (log: RpcLog) => {
    const n = Number(log.blockNumber);
    if (log.removed) throw new ChainSourceError(`The RPC returned a removed log (block ${n}) for final blocks`);
    if (log.address.toLowerCase() !== emitter || (log.topics[0] ?? "").toLowerCase() !== source.topic0)
      throw new ChainSourceError(
        `The RPC returned a log of ${log.address} topic ${log.topics[0]} for a filter on ${emitter} topic ${source.topic0}`,
      );
    if (!(n >= fromBlock && n <= toBlock))
      throw new ChainSourceError(
        `The RPC returned a log of block ${log.blockNumber} for blocks ${fromBlock}-${toBlock}`,
      );
    const list = byBlock.get(n) ?? [];
    if (list.length === 0) byBlock.set(n, list);
    list.push(log);
  };
  for (let at = fromBlock; at <= toBlock;) {
    const to = Math.min(toBlock, at + range - 1);
    const filter = { fromBlock: toQuantity(at), toBlock: toQuantity(to) };
    let got: RpcLog[];
    try {
      got = await getLogs(filter);
    } catch (e) {
      if (tooLarge(e) && to > at) {
        range = Math.max(1, Math.floor((to - at + 1) / 2));
        continue;
      }
      got = await retry(`eth_getLogs ${at}-${to}`, attempts, () => getLogs(filter));
    }
    got.forEach(take);
    at = to + 1;
  }
  // Every block's header, 100 to a batch.
  for (let at = fromBlock; at <= toBlock; at += 100) {
    const numbers = Array.from({ length: Math.min(100, toBlock - at + 1) }, (_, i) => at + i);
    const headers = (await retry(`eth_getBlockByNumber ${at}-${numbers.at(-1)}`, attempts, () =>
      t.batch(numbers.map((n) => ["eth_getBlockByNumber", [toQuantity(n), false]])),
    )) as Array<{ number: string; hash: string; logsBloom: string } | null>;
    for (const [i, header] of headers.entries()) {
      if (!header || Number(header.number) !== numbers[i])
        throw new ChainSourceError(`The RPC has no block ${numbers[i]}, below the final block`);
      const hash = header.hash.toLowerCase();
      const bloomHolds = bloomMayContain(header.logsBloom, emitter) && bloomMayContain(header.logsBloom, source.topic0);
      let list = byBlock.get(numbers[i]);
      if (!list && bloomHolds) {
        // Maybe a false positive of the bloom, maybe logs the range query dropped: ask by hash.
        (await retry(`eth_getLogs of block ${hash}`, attempts, () => getLogs({ blockHash: hash }))).forEach(take);
        list = byBlock.get(numbers[i]);
      }
      if (!list) continue;
      if (!bloomHolds)
        throw new ChainSourceError(`Block ${numbers[i]}: its logsBloom does not hold the logs the RPC returned`);
      for (const log of list)
        if (log.blockHash.toLowerCase() !== hash)
          throw new ChainSourceError(
            `Block ${numbers[i]}: the RPC's logs name block hash ${log.blockHash}, its header is ${hash}`,
            { fix: "the RPC served logs of a block that is not canonical; use an RPC that serves final blocks" },
          );
    }
  }
  const deltas: InboxDelta[] = [];
  const seen = new Set<bigint>();
  for (const [n, list] of byBlock)
    for (const log of list) {
      const time = logTime(n, Number(log.logIndex));
      if (seen.has(time))
        throw new ChainSourceError(`The RPC returned log ${Number(log.logIndex)} of block ${n} twice`);
      seen.add(time);
      deltas.push({ data: logData(log), time, diff: 1n, index: time, blockNumber: n });
    }
  deltas.sort((x, y) => (x.index < y.index ? -1 : x.index > y.index ? 1 : 0));
  return deltas;
}
