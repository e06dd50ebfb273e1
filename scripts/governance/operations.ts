// What the governance commands do: build registry/epoch-manager calls and run them through the
// TimelockController (print for a multisig, schedule, or execute). Shared by the CLI (cli.ts) and
// the `hardhat run` entry points.
import { readFile } from "node:fs/promises";
import { AbiCoder, getAddress, keccak256, toBeHex, ZeroAddress, ZeroHash, type Provider, type Signer } from "ethers";
import { chainSourceSpec, ChainSourceError, logLayout } from "../../client/actions/readChainLogs.js";
import { MaruError } from "../../client/errors/base.js";
import { operatorContentHash } from "../../client/registry/graphHash.js";
import type { SyncedOperator, SyncedStream } from "../../client/registry/syncGraph.js";
import { compileGraph, GraphUnsupportedError } from "../../worker/engine/graph.js";
import { OperatorRegistry__factory } from "../../typechain-types/factories/contracts/registry/OperatorRegistry__factory.js";
import { EpochManager__factory } from "../../typechain-types/factories/contracts/epochs/EpochManager.sol/EpochManager__factory.js";
import { TimelockController__factory } from "../../typechain-types/factories/@openzeppelin/contracts/governance/TimelockController__factory.js";
import { StreamInbox__factory } from "../../typechain-types/factories/contracts/inbox/StreamInbox__factory.js";
import { BlockHashOracle__factory } from "../../typechain-types/factories/contracts/oracle/BlockHashOracle__factory.js";
import { ContractRevertError, decodeContractError } from "../../client/errors/contracts.js";
import { checkBook } from "../../client/books/check.js";
import { inBlockRanges } from "../../client/events/logRanges.js";
import { getStakeToken } from "../../client/read/getStakeToken.js";
import type { Protocol } from "../../client/contracts.js";
import { formatAmount, parseAmount, type TokenUnits } from "../../client/units.js";
import { loadManifest, schemaHash, streamId } from "./manifest.js";
import { resolveBlobs, type Gateway } from "./blobs.js";
import { propose } from "./governor.js";
import { executeFileName, safeBatch, safeTransaction, writeSafeBatch } from "./safe.js";
import { acceptances, beaconApi, readHandover, subscriptionApi, type Acceptance } from "./handover.js";

/** Where the deployed contracts are (the addresses book the deploy scripts write). */
export type AddressBook = {
  timelock: string;
  registry: string;
  epochManager?: string;
  beacon?: string;
  streamInbox?: string;
  /** The MaruGovernor proposing to the timelock (testnets), if the book names one. */
  governor?: string;
  /** The chain the book was written for (the deploy script writes it; hand-written books may not). */
  chainId?: number;
  /** The block of the deployment, where event reads start. */
  startBlock?: number;
  /** The file it was read from, for messages. */
  file?: string;
};
/**
 * What a command does with its timelock operation: print it (`dry-run`), write it as Safe
 * Transaction Builder files (`safe-json`), propose it to the governor (`propose`), or, from a
 * proposer account, `schedule`, `execute`, `cancel` it.
 */
export type Mode = "dry-run" | "safe-json" | "propose" | "schedule" | "execute" | "cancel";
export type Call = {
  target: string;
  data: string;
  description: string;
  /** What to simulate instead of `data` when `data` holds placeholders (a dry run's un-uploaded blob ids). */
  simulateData?: string;
};
export type Context = {
  provider: Provider;
  signer?: Signer;
  book: AddressBook;
  log: (line: string) => void;
  /** Makes the operation a new one (the same calls again after they were executed once). */
  salt?: string;
  /** safe-json: the schedule batch's file (the execute batch goes beside it), and the Safe if known. */
  safeJson?: { file: string; safe?: string };
  /** propose: the governor and the proposal's description. */
  proposal?: { governor?: string; description: string };
};

const STATE = ["Unset", "Waiting", "Ready", "Done"] as const;

/** Reads an addresses book: `{ "timelock": "0x…", "registry": "0x…", "epochManager": "0x…", "beacon": "0x…" }`. */
export async function readAddressBook(file: string): Promise<AddressBook> {
  try {
    const raw = JSON.parse(await readFile(file, "utf8"));
    const book = raw.contracts ?? raw;
    if (!book.timelock || !book.registry) throw new Error("it needs timelock and registry addresses");
    return {
      ...(book as AddressBook),
      chainId: raw.chainId === undefined ? undefined : Number(raw.chainId),
      startBlock: raw.startBlock === undefined ? undefined : Number(raw.startBlock),
      file,
    };
  } catch (cause) {
    throw new MaruError(`Cannot use the addresses book ${file}.`, {
      fix: "pass the file the deploy script wrote (--addresses).",
      cause,
    });
  }
}

/** The contracts of a book that must hold code, by the book's names. */
const BOOK_CONTRACTS = ["timelock", "registry", "epochManager", "beacon", "streamInbox", "governor"] as const;

/**
 * Checks that the addresses book belongs to the chain the node serves, before anything else reads
 * from it: the book's chain id is the node's, and every contract it names has code. A book of
 * another chain, or of a local node that was restarted (same chain id, empty state), would
 * otherwise read as "nothing registered" or fail with an opaque revert.
 */
export async function checkAddressBook(provider: Provider, book: AddressBook, where: string): Promise<void> {
  const contracts = Object.fromEntries(BOOK_CONTRACTS.map((name) => [name, book[name]]));
  await checkBook(provider, { chainId: book.chainId, contracts }, { file: book.file, where });
}

/** The timelock operation that runs `calls` as one batch (the salt is derived from the calls) and its state. */
export async function timelockOperation(ctx: Context, calls: Call[]) {
  const timelock = TimelockController__factory.connect(ctx.book.timelock, ctx.provider);
  const targets = calls.map((c) => c.target);
  const values = calls.map(() => 0n);
  const payloads = calls.map((c) => c.data);
  const coder = AbiCoder.defaultAbiCoder();
  const salt =
    ctx.salt === undefined
      ? keccak256(coder.encode(["address[]", "bytes[]"], [targets, payloads]))
      : keccak256(coder.encode(["address[]", "bytes[]", "string"], [targets, payloads, ctx.salt]));
  const operationId = await timelock.hashOperationBatch(targets, values, payloads, ZeroHash, salt);
  const state = STATE[Number(await timelock.getOperationState(operationId))];
  const readyAt = Number(await timelock.getTimestamp(operationId));
  return { targets, values, payloads, salt, operationId, state, readyAt };
}

/** Runs `calls` through the timelock as one batch. The salt is derived from the calls, so the
 * same command with --schedule and later --execute addresses the same operation. */
export async function runThroughTimelock(
  ctx: Context,
  calls: Call[],
  mode: Mode,
): Promise<{ operationId: string; state: string }> {
  const timelock = TimelockController__factory.connect(ctx.book.timelock, ctx.signer ?? ctx.provider);
  const { targets, values, payloads, salt, operationId, state } = await timelockOperation(ctx, calls);
  const delay = await timelock.getMinDelay();
  // Calls with placeholders (a dry run's blobs not uploaded: their Arweave ids are zero) are not the
  // operation that will be scheduled: its id and calldata exist only once the ids do.
  const final = calls.every((c) => c.simulateData === undefined);
  if (!final && mode !== "dry-run")
    throw new MaruError("Internal error: an operation with placeholder Arweave ids reached " + mode + ".");
  for (const c of calls) ctx.log(`  call ${c.description}`);
  if (mode !== "propose" && final) ctx.log(`  timelock ${ctx.book.timelock}, operation ${operationId}: ${state}`);

  if (mode === "dry-run" || mode === "schedule" || mode === "safe-json" || mode === "propose")
    await simulate(ctx, calls);
  if (!final) {
    ctx.log("  no calldata printed: the operation is not final until the blobs are uploaded (their ids are in it),");
    ctx.log("  and calldata with zero ids would revert when executed after the delay. To upload, then act:");
    ctx.log(
      '    --schedule (a proposer account), --safe-json <file> (a Safe), --propose --description "…" (the governor)',
    );
    return { operationId: "(not final)", state: "Unset" };
  }
  if (mode === "propose") {
    // The governor schedules in the timelock itself when the proposal is queued (with its own salt).
    const governor = ctx.proposal?.governor ?? ctx.book.governor;
    if (!governor)
      throw new MaruError("--propose needs the governor's address.", {
        fix: "give --governor <address>, or add `governor` to the addresses book.",
      });
    const p = await propose(
      {
        provider: ctx.provider,
        signer: ctx.signer,
        governor,
        timelock: ctx.book.timelock,
        log: ctx.log,
        fromBlock: ctx.book.startBlock,
      },
      calls,
      ctx.proposal?.description ?? "",
    );
    return { operationId: p.id.toString(), state: p.state };
  }
  if (mode === "safe-json") {
    if (!ctx.safeJson) throw new MaruError("safe-json needs a file name (--safe-json <file>).");
    const chainId = (await ctx.provider.getNetwork()).chainId;
    const iface = timelock.interface;
    const what = calls.map((c) => c.description).join("; ");
    if (ctx.safeJson.safe && !(await timelock.hasRole(await timelock.PROPOSER_ROLE(), ctx.safeJson.safe)))
      throw new MaruError(`The Safe ${ctx.safeJson.safe} is not a proposer of the timelock ${ctx.book.timelock}.`, {
        fix: "the schedule batch would revert: pass the Safe that holds PROPOSER_ROLE (--safe), or have it granted first.",
      });
    const scheduleFile = ctx.safeJson.file;
    const executeFile = executeFileName(scheduleFile);
    await writeSafeBatch(
      scheduleFile,
      safeBatch({
        chainId,
        safe: ctx.safeJson.safe,
        name: `Maru: schedule ${operationId.slice(0, 10)}`,
        description: `Schedules in the timelock ${ctx.book.timelock} (delay ${delay} s): ${what}. Then, after the delay, ${executeFile}.`,
        transactions: [
          safeTransaction(iface, ctx.book.timelock, "scheduleBatch", [
            targets,
            values,
            payloads,
            ZeroHash,
            salt,
            delay,
          ]),
        ],
      }),
    );
    await writeSafeBatch(
      executeFile,
      safeBatch({
        chainId,
        safe: ctx.safeJson.safe,
        name: `Maru: execute ${operationId.slice(0, 10)}`,
        description: `Executes the timelock operation ${operationId} once its delay has passed: ${what}.`,
        transactions: [
          safeTransaction(iface, ctx.book.timelock, "executeBatch", [targets, values, payloads, ZeroHash, salt]),
        ],
      }),
    );
    ctx.log(
      `  wrote ${scheduleFile} (scheduleBatch) and ${executeFile} (executeBatch) for the Safe Transaction Builder`,
    );
    ctx.log(`  the Safe (a proposer) submits the first; after ${delay} s anyone executes the second (or --execute)`);
    return { operationId, state };
  }
  if (mode === "dry-run") {
    const scheduleData = timelock.interface.encodeFunctionData("scheduleBatch", [
      targets,
      values,
      payloads,
      ZeroHash,
      salt,
      delay,
    ]);
    const executeData = timelock.interface.encodeFunctionData("executeBatch", [
      targets,
      values,
      payloads,
      ZeroHash,
      salt,
    ]);
    ctx.log(
      JSON.stringify(
        {
          timelock: ctx.book.timelock,
          operationId,
          delay: delay.toString(),
          schedule: { to: ctx.book.timelock, data: scheduleData },
          execute: { to: ctx.book.timelock, data: executeData },
          calls: calls.map(({ target, data, description }) => ({ target, data, description })),
        },
        null,
        2,
      ),
    );
    return { operationId, state };
  }
  if (!ctx.signer)
    throw new MaruError("This command sends a transaction and needs an account.", {
      fix: "configure accounts for the network (keystore or configVariable).",
    });
  const who = await ctx.signer.getAddress();
  if (mode === "cancel") {
    if (state !== "Waiting" && state !== "Ready")
      throw new MaruError(
        `There is nothing to cancel: the operation is ${state === "Unset" ? "not scheduled" : "executed"}.`,
        {
          fix: "`status` lists what is pending (give the same --salt the operation was scheduled with, if any).",
        },
      );
    if (!(await timelock.hasRole(await timelock.CANCELLER_ROLE(), who)))
      throw new MaruError(`The account ${who} is not a canceller of the timelock.`, {
        fix: "cancel from a canceller account (the timelock's proposers are its cancellers), or through the multisig/governor.",
      });
    await (await timelock.cancel(operationId)).wait();
    ctx.log(`  cancelled operation ${operationId}`);
    return { operationId, state: "Unset" };
  }
  if (mode === "schedule") {
    if (state !== "Unset")
      throw new MaruError(`The operation is already scheduled (${state}).`, {
        fix:
          state === "Ready"
            ? "run the same command with --execute."
            : state === "Done"
              ? "these exact calls were executed before: to run them again, give the command a new --salt (any text)."
              : "wait, or check it with `status`.",
      });
    if (!(await timelock.hasRole(await timelock.PROPOSER_ROLE(), who)))
      throw new MaruError(`The account ${who} is not a proposer of the timelock.`, {
        fix: "schedule from a proposer account, or have the proposer schedule it: --safe-json <file> --safe <Safe> writes a multisig's batch, --propose --description \"…\" proposes it to the governor (both upload an operator's blobs first).",
      });
    await (await timelock.scheduleBatch(targets, values, payloads, ZeroHash, salt, delay)).wait();
    const ready = Number(await timelock.getTimestamp(operationId));
    ctx.log(
      `  scheduled: ready at ${new Date(ready * 1000).toISOString()} (delay ${delay} s); then run with --execute`,
    );
    return { operationId, state: "Waiting" };
  }
  if (state === "Unset")
    throw new MaruError("The operation is not scheduled.", { fix: "run the same command with --schedule first." });
  if (state === "Done")
    throw new MaruError("The operation was already executed.", {
      fix: "nothing to do; `status` lists what is pending.",
    });
  if (state === "Waiting") {
    const ready = Number(await timelock.getTimestamp(operationId));
    throw new MaruError(`The operation is not ready: it waits until ${new Date(ready * 1000).toISOString()}.`, {
      fix: "run --execute after that time.",
    });
  }
  let receipt;
  try {
    receipt = await (await timelock.executeBatch(targets, values, payloads, ZeroHash, salt)).wait();
  } catch (e) {
    throw decodeContractError(e, PROTOCOL_INTERFACES);
  }
  ctx.log(`  executed in block ${receipt!.blockNumber}, gas ${receipt!.gasUsed}`);
  return { operationId, state: "Done" };
}

/** Every interface whose custom errors a governed call may revert with. */
export const PROTOCOL_INTERFACES = [
  EpochManager__factory.createInterface(),
  OperatorRegistry__factory.createInterface(),
  StreamInbox__factory.createInterface(),
  BlockHashOracle__factory.createInterface(),
  TimelockController__factory.createInterface(),
];

/**
 * Where OpenZeppelin v5's TimelockController keeps `mapping(bytes32 id => uint256) _timestamps`:
 * slot 1, after AccessControl's `_roles` (slot 0), as solc's storage layout of
 * @openzeppelin/contracts 5.7.0 governance/TimelockController.sol gives it. A timelock laid out
 * otherwise is noticed before it is relied on: the override is read back through getTimestamp.
 */
const TIMESTAMPS_SLOT = 1n;

/** The state override that makes operation `id` Ready: `_timestamps[id] = 2` (1 is Done; > 1 and ≤ now is Ready). */
function readyOverride(timelock: string, id: string) {
  const slot = keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "uint256"], [id, TIMESTAMPS_SLOT]));
  return { [timelock]: { stateDiff: { [slot]: toBeHex(2n, 32) } } };
}

/** An account that may call executeBatch: anyone when address(0) holds EXECUTOR_ROLE, else a holder of it. */
async function executorOf(ctx: Context): Promise<string | undefined> {
  const timelock = TimelockController__factory.connect(ctx.book.timelock, ctx.provider);
  const role = await timelock.EXECUTOR_ROLE();
  if (await timelock.hasRole(role, ZeroAddress)) return ZeroAddress;
  const who = await ctx.signer?.getAddress();
  if (who && (await timelock.hasRole(role, who))) return who;
  const granted = await inBlockRanges(
    (from, to) => timelock.queryFilter(timelock.filters.RoleGranted(role), from, to),
    ctx.book.startBlock ?? 0,
    await ctx.provider.getBlockNumber(),
  );
  for (const log of granted.reverse()) if (await timelock.hasRole(role, log.args.account)) return log.args.account;
  return undefined;
}

type RawCall = (data: string, from: string, overrides: object) => Promise<string>;

/**
 * Runs the whole batch as the timelock will execute it, before anything is scheduled: an eth_call
 * of executeBatch on the timelock, from an executor, with a state override that makes the
 * operation Ready. Each call then sees what the calls before it did (an operator whose output
 * stream the same batch registers). A failure is decoded and the failing call named. Returns why
 * the batch could not be simulated so (a node without state overrides, no executor found), or
 * undefined when it was.
 */
async function simulateBatch(ctx: Context, calls: Call[]): Promise<string | undefined> {
  const send = (ctx.provider as Partial<{ send: (method: string, params: unknown[]) => Promise<unknown> }>).send;
  if (typeof send !== "function") return "the provider cannot send eth_call with a state override";
  const call: RawCall = async (data, from, overrides) =>
    String(await send.call(ctx.provider, "eth_call", [{ from, to: ctx.book.timelock, data }, "latest", overrides]));
  const timelock = TimelockController__factory.connect(ctx.book.timelock, ctx.provider);
  const iface = timelock.interface;
  const batch = (n: number) => {
    const part = calls.slice(0, n);
    return [part.map((c) => c.target), part.map(() => 0n), part.map((c) => c.simulateData ?? c.data)] as const;
  };
  const opId = (n: number) => timelock.hashOperationBatch(...batch(n), ZeroHash, ZeroHash);
  const id = await opId(calls.length);
  try {
    const read = await call(
      iface.encodeFunctionData("getTimestamp", [id]),
      ZeroAddress,
      readyOverride(ctx.book.timelock, id),
    );
    if (BigInt(read) !== 2n)
      return `the timelock does not keep OpenZeppelin v5's layout (_timestamps at slot ${TIMESTAMPS_SLOT})`;
  } catch (e) {
    return `the node refuses eth_call state overrides (${(e as Error).message.split("\n")[0]})`;
  }
  const executor = await executorOf(ctx);
  if (executor === undefined) return "no account holding the timelock's EXECUTOR_ROLE was found";
  const run = async (n: number, opIdOfN: string) =>
    call(
      iface.encodeFunctionData("executeBatch", [...batch(n), ZeroHash, ZeroHash]),
      executor,
      readyOverride(ctx.book.timelock, opIdOfN),
    );
  try {
    await run(calls.length, id);
  } catch (e) {
    const err = decodeContractError(e, PROTOCOL_INTERFACES);
    const refused =
      err instanceof ContractRevertError &&
      (err.errorName === "TimelockUnexpectedOperationState" ||
        (err.errorName === "AccessControlUnauthorizedAccount" &&
          String(err.args.account).toLowerCase() === executor.toLowerCase() &&
          err.args.neededRole === (await timelock.EXECUTOR_ROLE())));
    if (refused) return `the timelock refused the simulation itself (${(err as ContractRevertError).errorName})`;
    // Which call: the shortest prefix of the batch that fails ends with it.
    let failed = calls.length - 1;
    for (let n = 1; n < calls.length; n++) {
      const failsHere = await run(n, await opId(n)).then(
        () => false,
        () => true,
      );
      if (failsHere) {
        failed = n - 1;
        break;
      }
    }
    throw new MaruError(
      `${calls[failed].description} (call ${failed + 1} of ${calls.length}) would fail when the timelock executes the batch: ${err.message}`,
      { fix: "nothing was scheduled; fix the value and run the command again.", cause: e },
    );
  }
  ctx.log(`  simulated: the batch of ${calls.length} calls runs as the timelock's executeBatch would run it`);
  return undefined;
}

/**
 * Runs the calls as the timelock would before anything is scheduled, so that a call that would
 * fail at execute time (a value out of bounds, a missing record) is refused now, with its error
 * decoded. One call: an eth_call from the timelock's address. A batch: executeBatch itself
 * (simulateBatch); where the node cannot do that, each call on its own, and a later call that fails
 * only because it needs an earlier call of the batch is reported as not simulated.
 */
async function simulate(ctx: Context, calls: Call[]): Promise<void> {
  if (calls.length > 1) {
    const unsupported = await simulateBatch(ctx, calls);
    if (unsupported === undefined) return;
    ctx.log(
      `  (the batch could not be simulated as a whole: ${unsupported}. Each call is simulated on its own, without what the calls before it do: a later call that needs them is NOT SIMULATED)`,
    );
  }
  for (const [i, c] of calls.entries()) {
    try {
      await ctx.provider.call({ from: ctx.book.timelock, to: c.target, data: c.simulateData ?? c.data });
    } catch (e) {
      const err = decodeContractError(e, PROTOCOL_INTERFACES);
      if (i > 0) {
        ctx.log(
          `  (NOT SIMULATED: ${c.description} fails on its own and may need the calls before it; it is unchecked until executed: ${err.message})`,
        );
        continue;
      }
      throw new MaruError(`${c.description} would fail when the timelock executes it: ${err.message}`, {
        fix: "nothing was scheduled; fix the value and run the command again.",
        cause: e,
      });
    }
  }
}

/** A manifest output's partition as the registry's `PartitionSpec` (WHOLE 0, SLICE 1). */
function partitionOf(p: { kind: "WHOLE" } | { kind: "SLICE"; offset: number; length: number }) {
  return p.kind === "WHOLE" ? { kind: 0, offset: 0, length: 0 } : { kind: 1, offset: p.offset, length: p.length };
}

/**
 * Refuses an operator that would make the registry's graph one the reference worker cannot run
 * (`compileGraph`: a third exchange, an operator with several outputs, a join keyed differently…).
 * Such a graph stops nothing, but runs nowhere: workers sit out every epoch it is pinned to. An
 * input that is not registered is left to the registration's own check, which names it.
 */
async function refuseUnrunnableGraph(ctx: Context, m: Awaited<ReturnType<typeof loadManifest>>): Promise<void> {
  const registry = OperatorRegistry__factory.connect(ctx.book.registry, ctx.provider);
  const [streamCount, operatorCount] = await registry.counts();
  const streams: SyncedStream[] = [];
  for (let offset = 0; offset < streamCount; offset += 100)
    for (const r of await registry.streams(offset, 100)) {
      const [kind, from, length] = r.spec.partition as unknown as [bigint, bigint, bigint];
      streams.push({
        id: r.spec.id,
        schemaHash: r.spec.schemaHash,
        partition: { kind: Number(kind), offset: Number(from), length: Number(length) },
        sourceKind: Number(r.spec.sourceKind),
        sourceChainId: r.spec.sourceChainId,
        sourceDescriptor: r.spec.sourceDescriptor,
        producer: r.hasProducer ? Number(r.producer) : null,
      } as SyncedStream);
    }
  const known = new Set(streams.map((x) => x.id.toLowerCase()));
  const inputs = m.inputs.map(streamId);
  if (inputs.some((x) => !known.has(x.toLowerCase()))) return;
  const outputs: string[] = [];
  for (const out of m.outputs) {
    const sid = streamId(typeof out === "string" ? out : out.stream);
    outputs.push(sid);
    if (known.has(sid.toLowerCase()) || typeof out === "string") continue;
    streams.push({
      id: sid,
      schemaHash: schemaHash(out.schema),
      partition: partitionOf(out.partition),
      sourceKind: 2,
      sourceChainId: 0n,
      sourceDescriptor: ZeroHash,
      producer: Number(operatorCount),
    } as SyncedStream);
  }
  const operators: SyncedOperator[] = [];
  for (let offset = 0; offset < operatorCount; offset += 100)
    for (const r of await registry.operators(offset, 100))
      operators.push({
        id: Number(r.id),
        name: r.name,
        inputs: [...r.inputs],
        outputs: [...r.outputs],
        status: Number(r.status) === 1 ? "ACTIVE" : "DEPRECATED",
        bytecode: new Uint8Array(0),
      } as unknown as SyncedOperator);
  operators.push({
    id: Number(operatorCount),
    name: m.name,
    inputs,
    outputs,
    status: "ACTIVE",
    bytecode: new Uint8Array(0),
  } as unknown as SyncedOperator);
  const { chainId } = await ctx.provider.getNetwork();
  try {
    compileGraph({ epoch: 0n, version: 0n, graphHash: ZeroHash, streams, operators }, chainId);
  } catch (e) {
    if (!(e instanceof GraphUnsupportedError)) throw e;
    throw new MaruError(
      `${m.name} v${m.version} would make a graph the reference worker cannot run: ${e.shortMessage}.`,
      {
        details: ["workers sit out every epoch whose graph they cannot run: nothing in the graph would run"],
        fix: `${e.fix ?? "change the operator"}; or, if workers other than the reference one will run it, pass --allow-unsupported-graph.`,
      },
    );
  }
}

/** register-operator: validates the manifest against the registry, uploads the blobs (not in a dry
 * run) and checks them on the gateway, then runs the stream registrations it needs and the operator
 * registration through the timelock. */
export async function registerOperator(
  ctx: Context,
  options: { manifest: string; gateway: Gateway; mode: Mode; allowUnsupportedGraph?: boolean },
) {
  const m = await loadManifest(options.manifest);
  // Before anything is uploaded: would the reference worker run the graph this operator makes?
  if (!options.allowUnsupportedGraph) await refuseUnrunnableGraph(ctx, m);
  // A dry run uploads nothing: it prints the calldata with the locally computed hashes.
  const { definition, bytecode } = await resolveBlobs({
    manifestPath: options.manifest,
    manifest: m,
    gateway: options.gateway,
    upload: options.mode !== "dry-run",
    log: ctx.log,
  });

  const registry = OperatorRegistry__factory.connect(ctx.book.registry, ctx.provider);
  // Already registered with the same content? Say so (a re-run after --execute lands here).
  const contentHash = operatorContentHash(definition.hash, bytecode.hash);
  const [, operatorCount] = await registry.counts();
  for (let offset = 0; offset < operatorCount; offset += 100) {
    for (const r of await registry.operators(offset, 100)) {
      if (r.name === m.name && Number(r.version) === m.version && r.contentHash === contentHash) {
        throw new MaruError(
          `${m.name} v${m.version} is already registered (operator ${r.id}), with these blobs: the operation was already executed.`,
          {
            fix: "nothing to do; to publish a change, raise the version in the manifest.",
          },
        );
      }
    }
  }
  const exists = async (id: string) => {
    try {
      return await registry.stream(id);
    } catch {
      return undefined;
    }
  };
  const calls: Call[] = [];
  for (const input of m.inputs) {
    if (!(await exists(streamId(input))))
      throw new MaruError(`Input stream "${input}" is not registered.`, {
        details: [`stream id ${streamId(input)}`],
        fix: "register the stream first, or fix the name in the manifest.",
      });
  }
  const outputs: string[] = [];
  for (const out of m.outputs) {
    const ref = typeof out === "string" ? out : out.stream;
    const sid = streamId(ref);
    outputs.push(sid);
    const record = await exists(sid);
    if (record) {
      if (Number(record.spec.sourceKind) !== 2)
        throw new MaruError(`Output stream "${ref}" exists but is not DERIVED.`, {
          fix: "an operator can only produce DERIVED streams.",
        });
      continue;
    }
    if (typeof out === "string")
      throw new MaruError(`Output stream "${ref}" is not registered.`, {
        fix: "declare it in the manifest with { stream, schema, partition } so that it is registered in the same proposal.",
      });
    const spec = {
      id: sid,
      schemaHash: schemaHash(out.schema),
      partition: partitionOf(out.partition),
      sourceKind: 2,
      sourceChainId: 0,
      sourceDescriptor: ZeroHash,
    };
    calls.push({
      target: ctx.book.registry,
      data: registry.interface.encodeFunctionData("registerStream", [spec]),
      description: `registerStream(${ref})`,
    });
  }
  const op = {
    name: m.name,
    version: m.version,
    inputs: m.inputs.map(streamId),
    outputs,
    definitionHash: definition.hash,
    bytecodeHash: bytecode.hash,
    definitionTxId: definition.txId,
    bytecodeTxId: bytecode.txId,
  };
  // Not uploaded (a dry run): the registry refuses a zero id, so simulate with a stand-in one.
  const standIn = (txId: string) => (txId === ZeroHash ? `0x${"00".repeat(31)}01` : txId);
  const pending = definition.txId === ZeroHash || bytecode.txId === ZeroHash;
  calls.push({
    target: ctx.book.registry,
    data: registry.interface.encodeFunctionData("registerOperator", [op]),
    description: `registerOperator(${m.name} v${m.version})${pending ? " [Arweave ids 0x0 until uploaded]" : ""}`,
    simulateData: pending
      ? registry.interface.encodeFunctionData("registerOperator", [
          { ...op, definitionTxId: standIn(op.definitionTxId), bytecodeTxId: standIn(op.bytecodeTxId) },
        ])
      : undefined,
  });
  ctx.log(`  content hash ${contentHash} (keccak256 of abi.encode(definition hash, bytecode hash))`);
  if (pending)
    ctx.log(
      "  not final: a blob is not uploaded; run with --schedule, --safe-json or --propose to upload it and get its id",
    );
  return runThroughTimelock(ctx, calls, options.mode);
}

/**
 * A CHAIN stream's key must lie in its logs' data: refused past the bytes every log has (when no
 * field is dynamic), said when it lies in an address's zero padding (every key would be equal).
 * Prints where each field is, so the slice can be chosen from it.
 */
function checkLogPartition(
  event: string,
  p: { kind: number; offset: number; length: number },
  log: (l: string) => void,
) {
  const layout = logLayout(event);
  log(
    `  a log's data: ${layout.fields.map((f) => `${f.name || "?"} (${f.type}${f.indexed ? ", indexed" : ""}) at bytes ${32 * f.word}-${32 * f.word + 31}`).join(", ")}${layout.dynamic ? ", then dynamic data" : ""}`,
  );
  if (p.kind === 0) return;
  const end = p.offset + p.length;
  if (!layout.dynamic && end > layout.headBytes)
    throw new MaruError(
      `SLICE:${p.offset}:${p.length} ends at byte ${end}; this event's logs have ${layout.headBytes} bytes of data.`,
      {
        fix: "choose the key's bytes from the layout printed above (an address field is the low 20 bytes of its word: SLICE:<32·word + 12>:20)",
      },
    );
  for (const f of layout.fields)
    if (f.type === "address" && p.offset >= 32 * f.word && end <= 32 * f.word + 12)
      throw new MaruError(
        `SLICE:${p.offset}:${p.length} lies in the zero padding of ${f.name || "an address"}: every log would have the same key.`,
        {
          fix: `the address is bytes ${32 * f.word + 12}-${32 * f.word + 31}: SLICE:${32 * f.word + 12}:20`,
        },
      );
}

/** The source kinds of IOperatorRegistry.SourceKind. */
const SOURCE_KINDS = ["INBOX", "CHAIN", "DERIVED"] as const;

/**
 * register-stream: OperatorRegistry.registerStream through the timelock. `partition` is `WHOLE`
 * (one key: the whole payload) or `SLICE:<offset>:<length>` (the key is those bytes of the payload).
 * A `CHAIN` source is a contract's event logs on this network's chain (`emitter`, `event`): its
 * schema hash is the event's topic 0, so `schema` is not given for it. Other chains are refused:
 * FraudProofs judges accumulated proofs against this chain only (docs/protocol.md §9).
 */
export async function registerStream(
  ctx: Context,
  options: {
    name: string;
    schema?: string;
    partition: string;
    source: string;
    emitter?: string;
    event?: string;
    mode: Mode;
  },
) {
  const source = options.source.toUpperCase();
  const kind = SOURCE_KINDS.indexOf(source as (typeof SOURCE_KINDS)[number]);
  if (kind < 0)
    throw new MaruError(`Unknown source kind "${options.source}".`, { fix: "use INBOX, CHAIN or DERIVED." });
  let sourceFields = { schemaHash: "", sourceChainId: 0n, sourceDescriptor: ZeroHash as string };
  if (source === "CHAIN") {
    if (!options.emitter || !options.event)
      throw new MaruError("A CHAIN stream needs the contract and the event it reads.", {
        fix: 'add --emitter <address> --event "Transfer(address,address,uint256)"',
      });
    if (options.schema !== undefined)
      throw new MaruError("A CHAIN stream's schema is its event (its hash is the event's topic 0).", {
        fix: "leave out --schema",
      });
    const chainId = (await ctx.provider.getNetwork()).chainId;
    let spec;
    try {
      spec = chainSourceSpec(chainId, options.emitter, options.event);
    } catch (e) {
      if (e instanceof ChainSourceError) throw new MaruError(e.shortMessage, { fix: e.fix });
      throw e;
    }
    if ((await ctx.provider.getCode(options.emitter)) === "0x")
      throw new MaruError(`No contract at ${options.emitter} on chain ${chainId}.`, {
        fix: "give the address of the contract whose logs the stream reads, on the network given with --network",
      });
    sourceFields = spec;
    ctx.log(`  source: ${spec.canonical} logs of ${getAddress(options.emitter)} on chain ${chainId}`);
  } else {
    if (options.emitter || options.event)
      throw new MaruError("--emitter and --event are for CHAIN streams.", {
        fix: "add --source CHAIN, or leave them out",
      });
    if (options.schema === undefined)
      throw new MaruError(`A ${source} stream needs a schema.`, { fix: "add --schema <text or bytes32>" });
    sourceFields.schemaHash = schemaHash(options.schema);
  }
  const m = /^(WHOLE|SLICE:(\d+):(\d+))$/i.exec(options.partition);
  if (!m)
    throw new MaruError(`Cannot read the partition "${options.partition}".`, {
      fix: "use WHOLE, or SLICE:<offset>:<length> (bytes of the payload that form the key)",
    });
  const partition =
    m[2] === undefined ? { kind: 0, offset: 0, length: 0 } : { kind: 1, offset: Number(m[2]), length: Number(m[3]) };
  if (source === "CHAIN") checkLogPartition(options.event!, partition, ctx.log);
  const registry = OperatorRegistry__factory.connect(ctx.book.registry, ctx.provider);
  const sid = streamId(options.name);
  if (
    await registry.stream(sid).then(
      () => true,
      () => false,
    )
  )
    throw new MaruError(`The stream "${options.name}" is already registered (id ${sid}).`, {
      fix: "nothing to do; a stream's spec never changes (register another name for another spec).",
    });
  const spec = {
    id: sid,
    schemaHash: sourceFields.schemaHash,
    partition,
    sourceKind: kind,
    sourceChainId: sourceFields.sourceChainId,
    sourceDescriptor: sourceFields.sourceDescriptor,
  };
  ctx.log(`  stream "${options.name}" (${sid}): ${source}, partition ${options.partition.toUpperCase()}`);
  return runThroughTimelock(
    ctx,
    [
      {
        target: ctx.book.registry,
        data: registry.interface.encodeFunctionData("registerStream", [spec]),
        description: `registerStream(${options.name})`,
      },
    ],
    options.mode,
  );
}

/** allow-appender: StreamInbox.setAppender through the timelock (allow, or revoke with `allow: false`). */
export async function allowAppender(
  ctx: Context,
  options: { stream: string; appender: string; allow: boolean; mode: Mode },
) {
  if (!ctx.book.streamInbox) throw new MaruError("The addresses book has no streamInbox.");
  if (!/^0x[0-9a-fA-F]{40}$/.test(options.appender))
    throw new MaruError(`"${options.appender}" is not an address.`, { fix: "give 0x and 40 hex digits" });
  const registry = OperatorRegistry__factory.connect(ctx.book.registry, ctx.provider);
  const sid = streamId(options.stream);
  const record = await registry.stream(sid).catch(() => undefined);
  if (!record)
    throw new MaruError(`The stream "${options.stream}" is not registered.`, {
      fix: "register it first: gov register-stream --name … --source INBOX",
    });
  if (Number(record.spec.sourceKind) !== 0)
    throw new MaruError(`The stream "${options.stream}" is not an INBOX stream: nobody appends to it.`);
  const inbox = StreamInbox__factory.connect(ctx.book.streamInbox, ctx.provider);
  ctx.log(`  ${options.allow ? "allow" : "revoke"} ${options.appender} on "${options.stream}" (${sid})`);
  return runThroughTimelock(
    ctx,
    [
      {
        target: ctx.book.streamInbox,
        data: inbox.interface.encodeFunctionData("setAppender", [sid, options.appender, options.allow]),
        description: `setAppender(${options.stream}, ${options.appender}, ${options.allow})`,
      },
    ],
    options.mode,
  );
}

/** deprecate-operator: one registry call through the timelock. */
export async function deprecateOperator(ctx: Context, options: { id: number; mode: Mode }) {
  const registry = OperatorRegistry__factory.connect(ctx.book.registry, ctx.provider);
  const record = await registry.operator(options.id).catch(() => undefined);
  if (!record)
    throw new MaruError(`There is no operator ${options.id}.`, {
      fix: "`status` and the registry's operators() view list them.",
    });
  if (Number(record.status) !== 1)
    throw new MaruError(`Operator ${options.id} (${record.name}) is already deprecated.`);
  const data = registry.interface.encodeFunctionData("deprecateOperator", [options.id]);
  return runThroughTimelock(
    ctx,
    [{ target: ctx.book.registry, data, description: `deprecateOperator(${options.id} ${record.name})` }],
    options.mode,
  );
}

/** The parameters `set-parameter` accepts, by name (IEpochManager.Param). */
export const PARAMETERS = [
  "MIN_STAKE",
  "UNBONDING_PERIOD",
  "REWARD_BPS",
  "JAIL_EPOCHS",
  "EPOCH_DURATION",
  "FREEZE_LEAD",
  "RANDOMNESS_TIMEOUT",
  "REPLICATION",
  "MIN_WORKERS",
  "MAX_WORKERS",
  "FRAUD_WINDOW_EPOCHS",
] as const;

/** What a parameter's value is: a token amount, a duration in seconds, or a count. */
function parameterKind(param: string): "amount" | "seconds" | "epochs" | "bps" | "count" {
  if (param === "MIN_STAKE") return "amount";
  if (["UNBONDING_PERIOD", "EPOCH_DURATION", "FREEZE_LEAD", "RANDOMNESS_TIMEOUT"].includes(param)) return "seconds";
  if (param === "JAIL_EPOCHS" || param === "FRAUD_WINDOW_EPOCHS") return "epochs";
  if (param === "REWARD_BPS") return "bps";
  return "count";
}

/**
 * set-parameter: EpochManager.setParameter through the timelock. A text `value` is read in the
 * parameter's units: token units for amounts (MIN_STAKE: `100` or `100 tMARU`, never wei), seconds
 * for durations, a whole number for counts. A bigint is the value the contract stores (base units).
 */
export async function setParameter(ctx: Context, options: { param: string; value: string | bigint; mode: Mode }) {
  if (!ctx.book.epochManager) throw new MaruError("The addresses book has no epochManager.");
  const index = PARAMETERS.indexOf(options.param as (typeof PARAMETERS)[number]);
  if (index < 0)
    throw new MaruError(`Unknown parameter "${options.param}".`, { details: [`known: ${PARAMETERS.join(", ")}`] });
  if (options.param === "REWARD_BPS")
    throw new MaruError("REWARD_BPS is a punishment share: it changes only with a delay.", {
      fix: "use `gov schedule-shares --reward-bps N --slash-bps a,b,c,d,e` (docs/governance.md)",
    });
  const em = EpochManager__factory.connect(ctx.book.epochManager, ctx.provider);
  const kind = parameterKind(options.param);
  const units = kind === "amount" ? await stakeUnits(ctx, em) : undefined;
  const value = typeof options.value === "bigint" ? options.value : parameterValue(options.param, options.value, units);
  const current = await em.parameter(index);
  const show = (v: bigint) => showParameter(options.param, v, units);
  ctx.log(`  ${options.param}: ${show(current)} → ${show(value)}`);
  const data = em.interface.encodeFunctionData("setParameter", [index, value]);
  return runThroughTimelock(
    ctx,
    [
      {
        target: ctx.book.epochManager,
        data,
        description: `setParameter(${options.param}, ${units ? formatAmount(value, units) : value})`,
      },
    ],
    options.mode,
  );
}

/** The stake token's decimals and symbol (the client's getStakeToken), for MIN_STAKE. */
async function stakeUnits(ctx: Context, em: ReturnType<typeof EpochManager__factory.connect>): Promise<TokenUnits> {
  const protocol = { book: { contracts: { stakeToken: await em.stakeToken() } }, epochs: em } as unknown as Protocol;
  const token = await getStakeToken(protocol);
  return { decimals: token.decimals, symbol: token.symbol ?? "tokens" };
}

/** A `--value` in the parameter's units, as the contract stores it. */
function parameterValue(param: string, text: string, units?: TokenUnits): bigint {
  const kind = parameterKind(param);
  if (kind === "amount") return parseAmount(text, units!);
  const what = kind === "seconds" ? "a whole number of seconds" : kind === "epochs" ? "a number of epochs" : "a count";
  if (!/^\d+$/.test(text.trim()))
    throw new MaruError(`--value for ${param} is ${what}, not "${text}".`, {
      fix: `e.g. --value ${kind === "seconds" ? "3600" : "4"}`,
    });
  return BigInt(text.trim());
}

/** How a person reads a parameter's value: token units, durations, basis points, epochs, workers. */
function showParameter(param: string, v: bigint, units?: TokenUnits): string {
  switch (parameterKind(param)) {
    case "amount":
      return formatAmount(v, units!);
    case "seconds": {
      const n = Number(v);
      const human =
        n >= 86_400 ? `${(n / 86_400).toFixed(2)} days` : n >= 3_600 ? `${(n / 3_600).toFixed(2)} h` : `${n} s`;
      return n >= 3_600 ? `${n} s (${human})` : human;
    }
    case "bps":
      return `${v} bps (${Number(v) / 100}%)`;
    case "epochs":
      return `${v} epochs`;
    default:
      return `${v}${param === "REPLICATION" ? " holders per shard" : " workers"}`;
  }
}

/** The faults in IFraudProofs.Fault order, for messages. */
const FAULTS = [
  "misrouted delta",
  "equivocation",
  "batch mismatch",
  "broken chain",
  "invalid accumulated proof",
  "execution",
];

/**
 * schedule-shares: EpochManager.scheduleShares through the timelock. The new REWARD_BPS and
 * SLASH_BPS apply to epochs frozen (with a set of their own) after `ruleChangeDelay()` from when the
 * timelock executes it, never to an epoch frozen before (docs/contracts/staking.md).
 */
export async function scheduleShares(ctx: Context, options: { rewardBps: bigint; slashBps: bigint[]; mode: Mode }) {
  if (!ctx.book.epochManager) throw new MaruError("The addresses book has no epochManager.");
  if (options.slashBps.length !== FAULTS.length)
    throw new MaruError(`--slash-bps needs ${FAULTS.length} values (one per fault), got ${options.slashBps.length}.`, {
      details: [`in this order: ${FAULTS.join(", ")}`],
    });
  if (options.rewardBps > 5_000n)
    throw new MaruError(`--reward-bps ${options.rewardBps} is over 5,000 (half a slash).`, {
      fix: "a reward of at most half keeps a cheater reporting itself through a friend at a loss",
    });
  options.slashBps.forEach((b, i) => {
    if (b > 10_000n) throw new MaruError(`--slash-bps for ${FAULTS[i]} is ${b}, over 10,000 (the whole stake).`);
  });
  const em = EpochManager__factory.connect(ctx.book.epochManager, ctx.provider);
  const delay = await em.ruleChangeDelay();
  const current = BigInt(await em.sharesOf(await em.currentEpoch()));
  ctx.log(`  REWARD_BPS: ${current & 0xffffn} → ${options.rewardBps}`);
  FAULTS.forEach((f, i) =>
    ctx.log(`  SLASH_BPS ${f}: ${(current >> BigInt(16 + 16 * i)) & 0xffffn} → ${options.slashBps[i]}`),
  );
  ctx.log(`  takes effect ${delay} s (${(Number(delay) / 86_400).toFixed(1)} days) after the timelock executes it`);
  const six = options.slashBps as [bigint, bigint, bigint, bigint, bigint, bigint];
  const data = em.interface.encodeFunctionData("scheduleShares", [options.rewardBps, six]);
  return runThroughTimelock(
    ctx,
    [
      {
        target: ctx.book.epochManager,
        data,
        description: `scheduleShares(${options.rewardBps}, [${options.slashBps.join(", ")}])`,
      },
    ],
    options.mode,
  );
}

export type AcceptResult = {
  /** What the timelock owns already. */
  done: Acceptance[];
  /** What this run scheduled, executed, printed (dry-run), or found scheduled and not yet ready. */
  scheduled: Acceptance[];
  executed: Acceptance[];
  printed: Acceptance[];
  waiting: Array<Acceptance & { state: string; readyAt: number }>;
  /** Acceptable, but --execute found no scheduled operation for it. */
  unscheduled: Acceptance[];
  /** What the timelock cannot accept yet: nobody offered it the ownership. */
  blocked: Acceptance[];
};

/**
 * accept-ownership: the timelock accepts what the deployment offered it, the VRF beacon
 * (acceptOwnership) and the VRF subscription (acceptSubscriptionOwnerTransfer), one timelock
 * operation each, so that either can be accepted without the other. Reports what is done, what
 * it scheduled or executed, what waits for the delay and what nobody offered the timelock yet.
 */
export async function acceptOwnership(ctx: Context, options: { mode: Mode }): Promise<AcceptResult> {
  if (!ctx.book.beacon) throw new MaruError("The addresses book has no beacon.");
  const state = await readHandover(ctx.provider, ctx.book.timelock, ctx.book.beacon);
  const r: AcceptResult = {
    done: [],
    scheduled: [],
    executed: [],
    printed: [],
    waiting: [],
    unscheduled: [],
    blocked: [],
  };
  for (const a of acceptances(state)) {
    if (a.status === "done") {
      ctx.log(`${a.what}: owned by the timelock, nothing to accept`);
      r.done.push(a);
      continue;
    }
    if (a.status === "blocked") {
      ctx.log(`${a.what}: the timelock cannot accept it yet: ${a.reason}`);
      r.blocked.push(a);
      continue;
    }
    ctx.log(`${a.what}: ${a.reason}`);
    const op = await timelockOperation(ctx, [a.call]);
    if (options.mode === "dry-run") {
      await runThroughTimelock(ctx, [a.call], "dry-run");
      r.printed.push(a);
    } else if (op.state === "Unset") {
      if (options.mode === "schedule") {
        await runThroughTimelock(ctx, [a.call], "schedule");
        r.scheduled.push(a);
      } else {
        ctx.log(`  operation ${op.operationId} is not scheduled`);
        r.unscheduled.push(a);
      }
    } else if (options.mode === "execute" && op.state === "Ready") {
      await runThroughTimelock(ctx, [a.call], "execute");
      r.executed.push(a);
    } else if (options.mode === "cancel" && (op.state === "Waiting" || op.state === "Ready")) {
      await runThroughTimelock(ctx, [a.call], "cancel");
    } else {
      // Scheduled already (a re-run of --schedule), or --execute before the delay has passed.
      ctx.log(
        `  operation ${op.operationId} is scheduled: ${op.state}, ready at ${new Date(op.readyAt * 1000).toISOString()}`,
      );
      r.waiting.push({ ...a, state: op.state, readyAt: op.readyAt });
    }
  }
  return r;
}

/** status: every operation scheduled on the timelock, with its state and decoded calls. */
export async function status(ctx: Context, options: { fromBlock?: number }) {
  const timelock = TimelockController__factory.connect(ctx.book.timelock, ctx.provider);
  const registry = OperatorRegistry__factory.createInterface();
  const em = EpochManager__factory.createInterface();
  const logs = await inBlockRanges(
    (from, to) => timelock.queryFilter(timelock.filters.CallScheduled(), from, to),
    options.fromBlock ?? 0,
    await ctx.provider.getBlockNumber(),
  );
  const ops = new Map<string, { calls: string[]; ready: number }>();
  for (const l of logs) {
    const decoded =
      registry.parseTransaction({ data: l.args.data }) ??
      em.parseTransaction({ data: l.args.data }) ??
      beaconApi.parseTransaction({ data: l.args.data }) ??
      subscriptionApi.parseTransaction({ data: l.args.data });
    const text = decoded
      ? `${decoded.name}(${decoded.args.map((a) => (typeof a === "object" ? "…" : String(a))).join(", ")})`
      : l.args.data.slice(0, 10);
    const entry = ops.get(l.args.id) ?? { calls: [], ready: Number(await timelock.getTimestamp(l.args.id)) };
    entry.calls.push(`${l.args.target} ${text}`);
    ops.set(l.args.id, entry);
  }
  const rows = [];
  for (const [id, e] of ops) {
    const state = STATE[Number(await timelock.getOperationState(id))];
    rows.push({ id, state, readyAt: e.ready > 1 ? new Date(e.ready * 1000).toISOString() : "-", calls: e.calls });
  }
  const pending = rows.filter((r) => r.state === "Waiting" || r.state === "Ready");
  ctx.log(
    pending.length
      ? `${pending.length} pending (Waiting or Ready) of ${rows.length} scheduled:`
      : `nothing pending (${rows.length} scheduled in all)`,
  );
  for (const r of rows) ctx.log(`  ${r.state.padEnd(7)} ${r.id} ready ${r.readyAt}\n    ${r.calls.join("\n    ")}`);
  return rows;
}
