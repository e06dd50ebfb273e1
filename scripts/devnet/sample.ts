// The devnet's sample dataflows: transfers (the Transfer logs of an ERC-20 on the devnet chain, a
// CHAIN source, or transfers appended to a StreamInbox stream), a map to per-account balance
// changes, a keyed reduce to running balances; and, on the CHAIN source, a second dataflow: maps to
// transfers sent and (from a second CHAIN source, the token's Approval logs) approvals given per
// account, joined with the balance changes by account (balance, transfers sent, approvals given);
// and a third with two exchanges: each shard's balances by size class, exchanged again by class and
// counted (how many accounts hold a balance of each bit length). Registered
// through the timelock like any governance change (scripts/governance), its blobs uploaded to the
// Arweave gateway.
import { copyFileSync, mkdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { concat, getBytes, hexlify, id, toBeHex, ZeroHash, type Signer, type Provider } from "ethers";
import { registerOperator, runThroughTimelock, type Context } from "../governance/operations.js";
import { loadManifest } from "../governance/manifest.js";
import { OperatorRegistry__factory } from "../../typechain-types/factories/contracts/registry/OperatorRegistry__factory.js";
import { LoadToken__factory } from "../../typechain-types/factories/contracts/mocks/LoadToken__factory.js";
import { chainSourceSpec } from "../../client/actions/readChainLogs.js";
import { StreamInbox__factory } from "../../typechain-types/factories/contracts/inbox/StreamInbox__factory.js";
import { EpochManager__factory } from "../../typechain-types/factories/contracts/epochs/EpochManager.sol/EpochManager__factory.js";
import { Sharder, type AddressesBook, type PartitionSpec } from "../../client/index.js";
import { balanceRecord, histogramRecord, type EpochTruth } from "./report.js";

/** The source stream's name, by source kind. */
export const SOURCE_STREAMS = { inbox: "transfers", chain: "token_transfers" } as const;
export type SourceChoice = keyof typeof SOURCE_STREAMS;
export const TRANSFER_EVENT = "Transfer(address,address,uint256)";
export const APPROVAL_EVENT = "Approval(address,address,uint256)";
/** The second dataflow's second source: the token's Approval logs (a CHAIN stream keyed by owner). */
export const APPROVALS_SOURCE = "token_approvals";
/** The load generator approves after every this many transfers when the join runs (LoadToken.scatter). */
export const APPROVE_EVERY = 16;
export const OUTPUT_STREAM = id("balances").toLowerCase();
/** The join's output (CHAIN source only): account ‖ balance (i64) ‖ transfers sent (i64) ‖ approvals given (i64). */
export const ACTIVITY_STREAM = id("activity").toLowerCase();
/** The operators each source kind's sample registers, in order. */
const OPERATORS = {
  inbox: ["transfers_to_balances", "sum_by_key"],
  chain: ["erc20_to_balances", "sum_by_key"],
} as const;
/** The third dataflow's output (with the join): bucket (i64: a balance's bit length, negative below zero) ‖ accounts (i64). */
export const HISTOGRAM_STREAM = id("balance_histogram").toLowerCase();
/**
 * The second dataflow's operators (CHAIN source): two maps, one per source, and the join; then the
 * third's, which runs two exchanges: balance_buckets over each shard's balance changes, and
 * count_by_bucket after the second exchange.
 */
const JOIN_OPERATORS = [
  "erc20_to_sends",
  "erc20_to_approvals",
  "balance_activity",
  "balance_buckets",
  "count_by_bucket",
] as const;

/** A transfer as the inbox carries it: from (20 bytes) ‖ to (20 bytes) ‖ amount (u64 big-endian). */
export type Transfer = { from: string; to: string; amount: bigint };

export function encodeTransfer(t: Transfer): string {
  return hexlify(concat([getBytes(t.from), getBytes(t.to), getBytes(toBeHex(t.amount, 8))]));
}

/** The sample's function computed directly: every account's balance (zeros left out). */
export function balancesOf(transfers: Transfer[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const add = (a: string, v: bigint) => {
    const k = a.toLowerCase();
    const x = (out.get(k) ?? 0n) + v;
    if (x === 0n) out.delete(k);
    else out.set(k, x);
  };
  for (const t of transfers) {
    add(t.from, -t.amount);
    add(t.to, t.amount);
  }
  return out;
}

/** Deterministic pseudo-random transfers among `accounts` accounts (seeded, so a run can be repeated). */
export function makeTransfers(count: number, accounts: number, seed: number): Transfer[] {
  const names = Array.from({ length: accounts }, (_, i) => `0x${id(`account ${i}`).slice(2, 42)}`);
  let x = BigInt(seed) || 1n;
  const next = () => {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    return x >> 16n;
  };
  return Array.from({ length: count }, () => {
    const from = names[Number(next() % BigInt(accounts))];
    let to = names[Number(next() % BigInt(accounts))];
    if (to === from) to = names[(names.indexOf(from) + 1) % accounts];
    return { from, to, amount: 1n + (next() % 1000n) };
  });
}

/**
 * Registers the sample dataflow through the timelock (the deployer is a proposer with no delay on
 * local chains): the source stream (the CHAIN stream `token_transfers` of `token`'s Transfer logs,
 * keyed by sender, or the INBOX stream `transfers` with `feeder` as its appender), the replication
 * and minimum set size the devnet asks for, then the two operators from their manifests (blobs
 * uploaded to `gateway`).
 */
export async function registerSample(options: {
  provider: Provider;
  proposer: Signer;
  book: AddressesBook;
  gateway: string;
  feeder: string;
  source: SourceChoice;
  /** Also the second dataflow, the join, and the third, of two exchanges (CHAIN source only). */
  join?: boolean;
  /** The ERC-20 whose Transfer logs a CHAIN source reads. */
  token?: string;
  replication: number;
  minWorkers: number;
  workDir: string;
  log: (line: string) => void;
}): Promise<void> {
  const { book } = options;
  const ctx: Context = {
    provider: options.provider,
    signer: options.proposer,
    book: {
      timelock: book.contracts.timelock,
      registry: book.contracts.registry,
      epochManager: book.contracts.epochManager,
    },
    log: () => {},
  };
  const registry = OperatorRegistry__factory.connect(book.contracts.registry, options.provider);
  const inbox = StreamInbox__factory.connect(book.contracts.streamInbox, options.provider);
  const em = EpochManager__factory.connect(book.contracts.epochManager, options.provider);
  const name = SOURCE_STREAMS[options.source];
  const chainSource =
    options.source === "chain"
      ? chainSourceSpec((await options.provider.getNetwork()).chainId, options.token!, TRANSFER_EVENT)
      : undefined;
  const spec = {
    id: id(name),
    schemaHash: chainSource?.schemaHash ?? id("transfer(address from, address to, uint64 amount)"),
    // By the sending account: bytes 0..20 of an inbox transfer, the low 20 bytes of a log's first word.
    partition: { kind: 1, offset: chainSource ? 12 : 0, length: 20 },
    sourceKind: chainSource ? 1 : 0, // CHAIN or INBOX
    sourceChainId: chainSource?.sourceChainId ?? 0n,
    sourceDescriptor: chainSource?.sourceDescriptor ?? ZeroHash,
  };
  const calls = [
    {
      target: book.contracts.registry,
      data: registry.interface.encodeFunctionData("registerStream", [spec]),
      description: `registerStream(${name})`,
    },
  ];
  if (chainSource && options.join) {
    const approvals = chainSourceSpec(chainSource.sourceChainId, options.token!, APPROVAL_EVENT);
    const approvalsSpec = {
      ...spec, // keyed by owner (the first word's low 20 bytes), as transfers are by sender
      id: id(APPROVALS_SOURCE),
      schemaHash: approvals.schemaHash,
      sourceDescriptor: approvals.sourceDescriptor,
    };
    calls.push({
      target: book.contracts.registry,
      data: registry.interface.encodeFunctionData("registerStream", [approvalsSpec]),
      description: `registerStream(${APPROVALS_SOURCE})`,
    });
  }
  if (!chainSource)
    calls.push({
      target: book.contracts.streamInbox,
      data: inbox.interface.encodeFunctionData("setAppender", [spec.id, options.feeder, true]),
      description: `setAppender(${name}, feeder)`,
    });
  // k ≤ MIN_WORKERS after every call: MIN_WORKERS (8) first unless it drops below the current k (7).
  const params: Array<[number, bigint]> = [
    [8, BigInt(options.minWorkers)],
    [7, BigInt(options.replication)],
  ];
  if (BigInt(options.minWorkers) < (await em.parameter(7))) params.reverse();
  for (const [index, value] of params) {
    if ((await em.parameter(index)) === value) continue;
    calls.push({
      target: book.contracts.epochManager,
      data: em.interface.encodeFunctionData("setParameter", [index, value]),
      description: `setParameter(${index}, ${value})`,
    });
  }
  await runThroughTimelock(ctx, calls, "schedule");
  await runThroughTimelock(ctx, calls, "execute");
  options.log(
    chainSource
      ? `registered the CHAIN stream "${name}" (${TRANSFER_EVENT} logs of ${options.token})${options.join ? ` and "${APPROVALS_SOURCE}" (its ${APPROVAL_EVENT} logs)` : ""}, replication ${options.replication}`
      : `registered the INBOX stream "${name}", replication ${options.replication}`,
  );

  // The manifests and their blobs, copied where the lock files may be written.
  const root = process.cwd();
  for (const dir of ["manifests", "definitions", "build"]) mkdirSync(join(options.workDir, dir), { recursive: true });
  for (const name of [...OPERATORS[options.source], ...(options.join ? JOIN_OPERATORS : [])]) {
    copyFileSync(join(root, "operators/manifests", `${name}.yaml`), join(options.workDir, "manifests", `${name}.yaml`));
    // The files the manifest names, at the same place relative to it (erc20_to_approvals shares
    // erc20_to_sends' bytecode).
    const m = await loadManifest(join(root, "operators/manifests", `${name}.yaml`));
    for (const blob of [m.definition, m.bytecode]) {
      if (!("path" in blob)) continue; // on Arweave already
      const at = relative(join(root, "operators"), resolve(m.baseDir, blob.path));
      copyFileSync(join(root, "operators", at), join(options.workDir, at));
    }
    const manifest = join(options.workDir, "manifests", `${name}.yaml`);
    await registerOperator(ctx, { manifest, gateway: { url: options.gateway }, mode: "schedule" });
    await registerOperator(ctx, { manifest, gateway: { url: options.gateway }, mode: "execute" });
    options.log(`registered operator ${name} through the timelock (blobs on ${options.gateway})`);
  }
}

/** The inverse of {@link encodeTransfer}. */
export function decodeTransfer(data: string): Transfer {
  const hex = data.replace(/^0x/, "").toLowerCase();
  return { from: `0x${hex.slice(0, 40)}`, to: `0x${hex.slice(40, 80)}`, amount: BigInt(`0x${hex.slice(80, 96)}`) };
}

/**
 * What the chain says each epoch held, to judge the output by: the transfers the source took in
 * the epoch's source window (the token's Transfer logs, read with ethers' own queryFilter, not the
 * worker's reader; or the inbox's Appended events), the owners of the token's Approval logs (its blocks, from its EpochAdvanced to the next one's), and the shard
 * of each account's `balances` record under the epoch's randomness and set size.
 */
export async function readEpochTruth(options: {
  provider: Provider;
  book: AddressesBook;
  fromBlock: number;
  epochCount: number;
  source: SourceChoice;
  token?: string;
  /** The histogram (the third dataflow) runs: each epoch's truth says where its records live. */
  histogram?: boolean;
}): Promise<EpochTruth[]> {
  const em = EpochManager__factory.connect(options.book.contracts.epochManager, options.provider);
  const inbox = StreamInbox__factory.connect(options.book.contracts.streamInbox, options.provider);
  const registry = OperatorRegistry__factory.connect(options.book.contracts.registry, options.provider);
  const starts = new Map<number, number>();
  for (const e of await em.queryFilter(em.filters.EpochAdvanced(), options.fromBlock))
    starts.set(Number(e.args.epoch), e.blockNumber);
  const epochOf = (block: number) => {
    let best: number | undefined;
    for (const [e, at] of starts) if (at <= block && (best === undefined || e > best)) best = e;
    return best;
  };
  const byEpoch = new Map<number, Transfer[]>();
  const take = (block: number, transfers: Transfer[]) => {
    const epoch = epochOf(block);
    if (epoch === undefined) return;
    const list = byEpoch.get(epoch) ?? [];
    byEpoch.set(epoch, list);
    list.push(...transfers);
  };
  const approvalsByEpoch = new Map<number, string[]>();
  if (options.source === "chain") {
    const token = LoadToken__factory.connect(options.token!, options.provider);
    for (const e of await token.queryFilter(token.filters.Transfer(), options.fromBlock)) {
      // The sample's sums are 64-bit: a value of 2^63 or more is malformed for the operator too.
      if (e.args.value >= 1n << 63n) continue;
      take(e.blockNumber, [{ from: e.args.from, to: e.args.to, amount: e.args.value }]);
    }
    for (const e of await token.queryFilter(token.filters.Approval(), options.fromBlock)) {
      const epoch = epochOf(e.blockNumber);
      if (epoch === undefined) continue;
      approvalsByEpoch.set(epoch, [...(approvalsByEpoch.get(epoch) ?? []), e.args.owner.toLowerCase()]);
    }
  } else {
    for (const e of await inbox.queryFilter(inbox.filters.Appended(id(SOURCE_STREAMS.inbox)), options.fromBlock)) {
      const list: Transfer[] = [];
      for (const d of e.args.deltas) for (let i = 0n; i < BigInt(d.diff); ++i) list.push(decodeTransfer(d.data));
      take(e.blockNumber, list);
    }
  }
  const [kind, offset, length] = (await registry.partitionOf(OUTPUT_STREAM)) as unknown as bigint[];
  const spec = { kind: Number(kind), offset: Number(offset), length: Number(length) } as PartitionSpec;
  let bucketSpec: PartitionSpec | undefined;
  if (options.histogram) {
    const [k, o, l] = (await registry.partitionOf(HISTOGRAM_STREAM)) as unknown as bigint[];
    bucketSpec = { kind: Number(k), offset: Number(o), length: Number(l) } as PartitionSpec;
  }
  const truth: EpochTruth[] = [];
  for (let epoch = 1; epoch <= options.epochCount; ++epoch) {
    const info = await em.epochInfo(epoch);
    const sharder = new Sharder(info.randomness, Number(info.n));
    truth.push({
      epoch,
      transfers: byEpoch.get(epoch) ?? [],
      approvals: approvalsByEpoch.get(epoch) ?? [],
      shardOf: (account) => sharder.shardOfDelta(spec, balanceRecord(account, 0n)),
      ...(bucketSpec
        ? { shardOfBucket: (bucket: bigint) => sharder.shardOfDelta(bucketSpec, histogramRecord(bucket, 0n)) }
        : {}),
    });
  }
  return truth;
}
