// A CHAIN source (docs/protocol.md §9): a contract's event logs on a chain, read by every holder
// itself from final blocks. A stream registered with `sourceKind` CHAIN names its source with the
// registry's three fields: `sourceChainId` is the chain, `sourceDescriptor` the emitting contract's
// address (left-padded to 32 bytes), and `schemaHash` the event's topic 0, keccak256 of its
// canonical signature (so `schemaHash("Transfer(address,address,uint256)")` is that event's topic).
import {
  concat,
  EventFragment,
  getAddress,
  getBytes,
  id,
  isHexString,
  keccak256,
  toQuantity,
  zeroPadValue,
} from "ethers";
import type { Log, Provider } from "ethers";
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
export function logData(log: { topics: readonly string[]; data: string }): string {
  return concat([...log.topics.slice(1), log.data]).toLowerCase();
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

/** A block's number, hash and logsBloom (ethers' Block has no bloom: asked over JSON-RPC). */
async function header(provider: Provider, n: number, attempts: number) {
  const send = (provider as { send?: (method: string, params: unknown[]) => Promise<unknown> }).send;
  if (typeof send !== "function")
    throw new ChainSourceError("Reading a CHAIN source needs a JSON-RPC provider (its block headers' blooms)");
  const raw = (await retry(`eth_getBlockByNumber ${n}`, attempts, () =>
    send.call(provider, "eth_getBlockByNumber", [toQuantity(n), false]),
  )) as { number: string; hash: string; logsBloom: string } | null;
  return raw && { number: Number(raw.number), hash: raw.hash.toLowerCase(), logsBloom: raw.logsBloom };
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
  provider: Provider,
  source: ChainSource,
  fromBlock: number,
  toBlock: number,
  options: ReadChainLogsOptions = {},
): Promise<InboxDelta[]> {
  const attempts = options.attempts ?? 5;
  let range = options.range ?? 2_000;
  const filter = { address: source.emitter, topics: [source.topic0] };
  const logs: Log[] = [];
  for (let at = fromBlock; at <= toBlock;) {
    const to = Math.min(toBlock, at + range - 1);
    let got: Log[];
    try {
      got = await provider.getLogs({ ...filter, fromBlock: at, toBlock: to });
    } catch (e) {
      if (tooLarge(e) && to > at) {
        range = Math.max(1, Math.floor((to - at + 1) / 2));
        continue;
      }
      got = await retry(`eth_getLogs ${at}-${to}`, attempts, () =>
        provider.getLogs({ ...filter, fromBlock: at, toBlock: to }),
      );
    }
    logs.push(...got);
    at = to + 1;
  }
  const emitter = source.emitter.toLowerCase();
  const byBlock = new Map<number, Log[]>();
  const take = (log: Log) => {
    if (log.removed)
      throw new ChainSourceError(`The RPC returned a removed log (block ${log.blockNumber}) for final blocks`);
    if (log.address.toLowerCase() !== emitter || (log.topics[0] ?? "").toLowerCase() !== source.topic0)
      throw new ChainSourceError(
        `The RPC returned a log of ${log.address} topic ${log.topics[0]} for a filter on ${emitter} topic ${source.topic0}`,
      );
    if (log.blockNumber < fromBlock || log.blockNumber > toBlock)
      throw new ChainSourceError(
        `The RPC returned a log of block ${log.blockNumber} for blocks ${fromBlock}-${toBlock}`,
      );
    const list = byBlock.get(log.blockNumber) ?? [];
    if (list.length === 0) byBlock.set(log.blockNumber, list);
    list.push(log);
  };
  logs.forEach(take);
  // Every block's header (ethers batches these calls), 100 at a time.
  for (let at = fromBlock; at <= toBlock; at += 100) {
    const numbers = Array.from({ length: Math.min(100, toBlock - at + 1) }, (_, i) => at + i);
    const headers = await Promise.all(numbers.map((n) => header(provider, n, attempts)));
    for (const [i, header] of headers.entries()) {
      if (!header) throw new ChainSourceError(`The RPC has no block ${numbers[i]}, below the final block`);
      const bloomHolds = bloomMayContain(header.logsBloom, emitter) && bloomMayContain(header.logsBloom, source.topic0);
      let list = byBlock.get(header.number);
      if (!list && bloomHolds) {
        // Maybe a false positive of the bloom, maybe logs the range query dropped: ask by hash.
        const again = await retry(`eth_getLogs of block ${header.hash}`, attempts, () =>
          provider.getLogs({ ...filter, blockHash: header.hash }),
        );
        again.forEach(take);
        list = byBlock.get(header.number);
      }
      if (!list) continue;
      if (!bloomHolds)
        throw new ChainSourceError(`Block ${header.number}: its logsBloom does not hold the logs the RPC returned`);
      for (const log of list)
        if (log.blockHash.toLowerCase() !== header.hash)
          throw new ChainSourceError(
            `Block ${header.number}: the RPC's logs name block hash ${log.blockHash}, its header is ${header.hash}`,
            { fix: "the RPC served logs of a block that is not canonical; use an RPC that serves final blocks" },
          );
    }
  }
  const deltas: InboxDelta[] = [];
  const seen = new Set<bigint>();
  for (const list of byBlock.values())
    for (const log of list) {
      const time = logTime(log.blockNumber, log.index);
      if (seen.has(time))
        throw new ChainSourceError(`The RPC returned log ${log.index} of block ${log.blockNumber} twice`);
      seen.add(time);
      deltas.push({ data: logData(log), time, diff: 1n, index: time, blockNumber: log.blockNumber });
    }
  deltas.sort((x, y) => (x.index < y.index ? -1 : x.index > y.index ? 1 : 0));
  return deltas;
}
