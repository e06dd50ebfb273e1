// The operator commands of maru-worker: `status`, `stake`, `unstake`, `withdraw`, `claim` and
// `keys new`. They take --rpc, --addresses, --config and --keystore / MARU_WORKER_KEY as the worker
// does (../node/setup.ts), send through the client's actions, and check what would fail before
// sending (balance, MIN_STAKE, a withdrawal not unlocked yet), saying what to do in token units.
import { Command } from "commander";
import { isAddress, type Interface, type JsonRpcProvider, type Log } from "ethers";
import {
  ContractRevertError,
  MaruError,
  claimRewards,
  connectCourt,
  connectProtocol,
  stake,
  unstake,
  withdraw,
  type AddressesBook,
  type Protocol,
} from "../../client/index.js";
import { connectChain, readBook, requireChainOptions, stakingKey, withConfig } from "../node/setup.js";
import { newKeystore } from "./keys.js";
import { verifyDispute, type VerifyOptions } from "../disputes/verify.js";
import { readStatus, printStatus, statusJson, type Status } from "./status.js";
import { epochStartsAt, when } from "./time.js";
import { formatAmount, parseAmount, tokenUnits, type TokenUnits } from "../../client/units.js";

/** The subcommands this module handles (maru-worker dispatches them here). */
export const OPS_COMMANDS = new Set([
  "status",
  "stake",
  "unstake",
  "withdraw",
  "claim",
  "keys",
  "verify-dispute",
  "juror-bond",
]);

/** EpochManager.Param indices the commands read. */
const PARAM = { MIN_STAKE: 0, EPOCH_DURATION: 4, FRAUD_WINDOW_EPOCHS: 10 } as const;

type ChainOptions = { rpc?: string; addresses?: string; config?: string; keystore?: string };

/** What every command that reads the chain works with. */
type Session = {
  book: AddressesBook;
  provider: JsonRpcProvider;
  p: Protocol;
  me: string;
  units: TokenUnits;
};

/** Connects as the staking key (`signer`), or read-only for `--worker ADDRESS`. */
async function open(cmd: Command, raw: ChainOptions & { worker?: string }, signer: boolean): Promise<Session> {
  const opts = withConfig(cmd, raw);
  const chain = requireChainOptions(opts);
  // Checked here, before ethers reads a non-address as an ENS name ("network does not support ENS").
  if (opts.worker !== undefined && !isAddress(opts.worker))
    throw new MaruError(`--worker ${opts.worker} is not an address`, {
      fix: "give the worker's staking account as 0x and 40 hex digits (ENS names are not read)",
    });
  const key = signer || !opts.worker ? await stakingKey(opts.keystore) : undefined;
  const book = readBook(chain.addresses);
  const { provider } = await connectChain(chain.rpc, book, chain.addresses);
  try {
    const wallet = key?.connect(provider);
    const p = connectProtocol(book, wallet ?? provider);
    const me = wallet?.address ?? opts.worker!;
    return { book, provider, p, me, units: await tokenUnits(p) };
  } catch (e) {
    provider.destroy();
    throw e;
  }
}

async function withSession<T>(s: Session, f: (s: Session) => Promise<T>): Promise<T> {
  try {
    return await f(s);
  } finally {
    s.provider.destroy();
  }
}

/** A transaction needs gas: say so before ethers says "insufficient funds" in forty lines. */
async function needGas(s: Session): Promise<void> {
  if ((await s.provider.getBalance(s.me)) === 0n)
    throw new MaruError(`The account ${s.me} has no funds for gas`, {
      fix: "send it some of the chain's native currency",
    });
}

/** A revert of a staking call, in token units and with what to do. */
function explain(e: unknown, units: TokenUnits): unknown {
  if (!(e instanceof ContractRevertError)) return e;
  const a = e.args as Record<string, bigint>;
  const u = (v: bigint) => formatAmount(v, units);
  const said: Record<string, [string, string]> = {
    StakingInsufficientStake: [
      `Only ${u(a.active)} is active stake, ${u(a.requested)} asked`,
      `unstake at most ${u(a.active)}`,
    ],
    StakingBelowMinimum: [
      `That would leave ${u(a.remaining)}, below the minimum stake ${u(a.minimum)}, while committed`,
      "unstake everything to leave, or little enough to stay at or above the minimum",
    ],
    StakingInvalidAmount: [`The amount ${u(a.amount)} is not allowed`, "give a positive amount"],
    StakingTooManyUnstakeRequests: [
      `${a.pending} unstake requests are already pending (the most there can be)`,
      "withdraw the unlocked ones first (maru-worker withdraw), or wait until they unlock",
    ],
    StakingNotRegistered: [
      "This account is not registered as a worker",
      "start the worker once: it registers its signing key and address",
    ],
  };
  const s = said[e.errorName];
  return s ? new MaruError(`${s[0]} (${e.errorName})`, { fix: s[1], cause: e }) : e;
}

async function sendExplained<T>(s: Session, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw explain(e, s.units);
  }
}

const out = (line: string) => process.stdout.write(line + "\n");

/**
 * What a transaction paid `account`, from the events the staking contract (at `contract.address`)
 * emitted in it: `Withdrawn(worker, amount)` or `RewardsClaimed(account, amount)`, summed. This is
 * what the chain did, not what a simulation before sending said it would.
 * @example
 * ```ts
 * const receipt = await provider.getTransactionReceipt(sent.hash);
 * paidOut(receipt!.logs, { address: book.contracts.epochManager, iface: p.epochs.interface }, "Withdrawn", me);
 * ```
 */
export function paidOut(
  logs: readonly Pick<Log, "address" | "topics" | "data">[],
  contract: { address: string; iface: Interface },
  event: "Withdrawn" | "RewardsClaimed",
  account: string,
): bigint {
  let total: bigint | undefined;
  for (const log of logs) {
    if (log.address.toLowerCase() !== contract.address.toLowerCase()) continue;
    const parsed = contract.iface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name !== event || (parsed.args[0] as string).toLowerCase() !== account.toLowerCase()) continue;
    total = (total ?? 0n) + (parsed.args[1] as bigint);
  }
  if (total === undefined)
    throw new MaruError(`The transaction emitted no ${event} event for ${account}`, {
      fix: "look the transaction up on a block explorer, and run status to see the stake and rewards now",
    });
  return total;
}

/** The amount the receipt of `hash` says was paid to this account (see paidOut). */
async function paidBy(s: Session, hash: string, event: "Withdrawn" | "RewardsClaimed"): Promise<bigint> {
  const receipt = await s.provider.getTransactionReceipt(hash);
  if (!receipt) throw new MaruError(`No receipt for the transaction ${hash}`, { fix: "run status to see what it did" });
  return paidOut(receipt.logs, { address: s.book.contracts.epochManager, iface: s.p.epochs.interface }, event, s.me);
}

/** The flags of a command that only reads the chain, as maru-worker takes them. */
function readFlags(c: Command): Command {
  return c
    .option("--rpc <url>", "JSON-RPC URL of the chain")
    .option("--addresses <file>", "the deployment's addresses book (deployments/<chainId>.json)")
    .option("--config <file>", "a JSON/JSON5 file with any of these options (flags given here win)");
}

/** The common flags, as maru-worker takes them: those of a reader, and the staking key. */
function chainFlags(c: Command): Command {
  return readFlags(c).option(
    "--keystore <file>",
    "an encrypted JSON wallet for the staking key (password in MARU_KEYSTORE_PASSWORD)",
  );
}

async function runStatus(s: Session, json: boolean): Promise<void> {
  const status: Status = await readStatus(s.p, s.me, s.units);
  if (json) out(JSON.stringify(statusJson(status), null, 2));
  else printStatus(status, out);
}

async function runStake(s: Session, amount: bigint): Promise<void> {
  const u = (v: bigint) => formatAmount(v, s.units);
  await needGas(s);
  const info = await s.p.epochs.stakeOf(s.me);
  if (!info.registered)
    throw new MaruError(`${s.me} is not registered as a worker`, {
      fix: "start the worker once (npm run worker -- --rpc … --addresses …): it registers its signing key and address and stakes up to the minimum; stake more here after that",
    });
  const balance = await s.p.token.balanceOf(s.me);
  if (balance < amount)
    throw new MaruError(`The account holds ${u(balance)}, ${u(amount)} asked`, {
      fix: `send it ${u(amount - balance)} more (token ${s.book.contracts.stakeToken}), or stake at most ${u(balance)}`,
    });
  const sent = await sendExplained(s, () => stake(s.p, amount));
  const after = await s.p.epochs.stakeOf(s.me);
  const min = await s.p.epochs.parameter(PARAM.MIN_STAKE);
  out(`staked ${u(amount)} (transaction ${sent.hash})`);
  out(
    `active stake ${u(after.active)}${after.active < min ? `, below the minimum ${u(min)}: stake ${u(min - after.active)} more to commit` : ` (minimum ${u(min)})`}`,
  );
}

async function runUnstake(s: Session, amount: bigint): Promise<void> {
  const u = (v: bigint) => formatAmount(v, s.units);
  await needGas(s);
  const [info, min, current] = await Promise.all([
    s.p.epochs.stakeOf(s.me),
    s.p.epochs.parameter(PARAM.MIN_STAKE),
    s.p.epochs.currentEpoch(),
  ]);
  if (amount > info.active)
    throw new MaruError(`Only ${u(info.active)} is active stake, ${u(amount)} asked`, {
      fix: info.active === 0n ? "nothing to unstake" : `unstake at most ${u(info.active)}`,
    });
  const remaining = info.active - amount;
  // A committed worker may leave entirely but not drop below the minimum it committed with; the
  // simulation below has the chain's own answer (which commits count), this says it in units.
  try {
    await s.p.epochs.requestUnstake.staticCall(amount);
  } catch (e) {
    const x = explain(e, s.units);
    if (x instanceof MaruError && (e as ContractRevertError).errorName === "StakingBelowMinimum")
      throw new MaruError(`Unstaking ${u(amount)} would leave ${u(remaining)}, below the minimum ${u(min)}`, {
        fix: `this worker is committed to epoch ${current} or ${current + 1n}: unstake all ${u(info.active)} to leave, or at most ${u(info.active - min)} to stay`,
      });
    throw x;
  }
  const sent = await sendExplained(s, () => unstake(s.p, amount));
  const requests = await s.p.epochs.unstakeRequestsOf(s.me);
  const r = requests[requests.length - 1];
  const [head, cur, epochDuration, window] = await Promise.all([
    s.provider.getBlock("latest"),
    s.p.epochs.epochInfo(current),
    s.p.epochs.parameter(PARAM.EPOCH_DURATION),
    s.p.epochs.parameter(PARAM.FRAUD_WINDOW_EPOCHS),
  ]);
  const now = BigInt(head!.timestamp);
  out(`queued ${u(amount)} to leave (transaction ${sent.hash}); it stays slashable until withdrawn`);
  out(
    `withdrawable from ${when(r.unlockTime, now)}, once epoch ${r.unlockEpoch} is current (now ${current}; about ${when(epochStartsAt(r.unlockEpoch, current, cur.end, epochDuration), now)}), and ${window} epochs after the last epoch its stake is committed to`,
  );
  if (remaining < min)
    out(`active stake now ${u(remaining)}, below the minimum ${u(min)}: this worker no longer commits to new epochs`);
  else out(`active stake now ${u(remaining)}`);
}

async function runWithdraw(s: Session): Promise<void> {
  const u = (v: bigint) => formatAmount(v, s.units);
  await needGas(s);
  const status = await readStatus(s.p, s.me, s.units);
  const w = status.worker;
  if (w.withdrawable === 0n) {
    const r = w.unstakeRequests[0];
    if (!r)
      throw new MaruError("Nothing is queued to withdraw", { fix: "unstake first: maru-worker unstake <amount>" });
    const now = status.chainTime;
    const current = w.currentEpoch;
    const waits: string[] = [];
    if (r.unlockTime > now) waits.push(`at ${when(r.unlockTime, now)}`);
    if (r.unlockEpoch > current)
      waits.push(
        `once epoch ${r.unlockEpoch} is current (now ${current}, ${r.unlockEpoch - current} to go, about ${when(epochStartsAt(r.unlockEpoch, current, status.epoch.end, status.epochDuration), now)})`,
      );
    if (waits.length === 0)
      waits.push(
        `${status.fraudWindow} epochs after the last epoch carried with epoch ${r.memberEpoch}'s set (its stake may still be slashed for them)`,
      );
    throw new MaruError(`Nothing to withdraw yet: the oldest request, ${u(r.amount)}, unlocks ${waits.join(" and ")}`, {
      fix: "run withdraw again then (status shows every request)",
    });
  }
  const sent = await sendExplained(s, () => withdraw(s.p));
  out(`withdrew ${u(await paidBy(s, sent.hash, "Withdrawn"))} (transaction ${sent.hash})`);
}

async function runClaim(s: Session): Promise<void> {
  const u = (v: bigint) => formatAmount(v, s.units);
  await needGas(s);
  const claimable = await s.p.epochs.claimableOf(s.me);
  if (claimable === 0n)
    throw new MaruError("No rewards to claim", {
      fix: "rewards are the reporter's share of a slash: they come when this worker's evidence against a lying worker is accepted",
    });
  const sent = await sendExplained(s, () => claimRewards(s.p));
  out(`claimed ${u(await paidBy(s, sent.hash, "RewardsClaimed"))} (transaction ${sent.hash})`);
}

/**
 * The juror bond in the execution-dispute court: what it holds, and deposits or withdrawals in
 * token units. A drawn juror's deposit is locked from it per vote; its pay comes back into it.
 */
async function runJurorBond(s: Session, o: { deposit?: string; withdraw?: string }): Promise<void> {
  const u = (v: bigint) => formatAmount(v, s.units);
  const court = await connectCourt(s.p);
  const rules = await court.disputeRules();
  const bond = await court.jurorBondOf(s.me);
  if (o.deposit !== undefined && o.withdraw !== undefined)
    throw new MaruError("Give --deposit or --withdraw, not both");
  if (o.deposit !== undefined) {
    const amount = parseAmount(o.deposit, s.units);
    await needGas(s);
    const balance = await s.p.token.balanceOf(s.me);
    if (balance < amount)
      throw new MaruError(`The account holds ${u(balance)}, ${u(amount)} asked`, {
        fix: `send it ${u(amount - balance)} more (token ${s.book.contracts.stakeToken})`,
      });
    const spender = await court.getAddress();
    if ((await s.p.token.allowance(s.me, spender)) < amount)
      await (await sendExplained(s, () => s.p.token.approve(spender, amount))).wait();
    const sent = await sendExplained(s, () => court.depositJurorBond(amount));
    await sent.wait();
    out(`deposited ${u(amount)} (transaction ${sent.hash})`);
  } else if (o.withdraw !== undefined) {
    const amount = o.withdraw === "all" ? bond : parseAmount(o.withdraw, s.units);
    if (amount === 0n || amount > bond)
      throw new MaruError(`The juror bond holds ${u(bond)}: cannot withdraw ${u(amount)}`, {
        fix: bond > 0n ? `withdraw at most ${u(bond)} (or --withdraw all)` : "there is nothing to withdraw",
      });
    await needGas(s);
    const sent = await sendExplained(s, () => court.withdrawJurorBond(amount));
    await sent.wait();
    out(`withdrew ${u(amount)} (transaction ${sent.hash})`);
  }
  out(
    `juror bond: ${u(await court.jurorBondOf(s.me))} (a vote locks ${u(rules.jurorDeposit)}; an appeal costs ${u(rules.appealBond)} from the account)`,
  );
}

/**
 * The operator commands of maru-worker, parsed from the full `process.argv`.
 * @example
 * ```sh
 * MARU_WORKER_KEY=0x… npm run worker -- stake 150 --rpc http://127.0.0.1:8545 --addresses deployments/31337.json
 * ```
 */
export function opsCommand(): Command {
  const program = new Command("maru-worker").description("operator commands (npm run worker -- <command> --help)");
  program.configureOutput({ outputError: (str, write) => write(`maru-worker: ${str.replace(/^error: /, "")}`) });

  const status = chainFlags(program.command("status"))
    .description("what the chain holds about this worker: registration, stake, withdrawals, jail, epochs, rewards")
    .option("--worker <address>", "another worker's address (no key needed)")
    .option("--json", "print JSON (amounts in token units)")
    .action(async (o: ChainOptions & { worker?: string; json?: boolean }) =>
      withSession(await open(status, o, false), (s) => runStatus(s, o.json === true)),
    );

  const amountArgs = (c: Command) =>
    c
      .argument("<amount>", "in token units, e.g. 150 or 0.5 (not wei)")
      .argument("[symbol]", "the token's symbol, optional")
      // "-1" is an amount to refuse with a message, not an unknown option.
      .allowUnknownOption();
  const stakeCmd = chainFlags(amountArgs(program.command("stake")))
    .description("add to this worker's active stake (approves the token first when needed)")
    .action(async (amount: string, symbol: string | undefined, o: ChainOptions) =>
      withSession(await open(stakeCmd, o, true), (s) => runStake(s, parseAmount(amount, s.units, symbol))),
    );
  const unstakeCmd = chainFlags(amountArgs(program.command("unstake")))
    .description("queue active stake to leave (withdrawable after the unbonding period and the fraud window)")
    .action(async (amount: string, symbol: string | undefined, o: ChainOptions) =>
      withSession(await open(unstakeCmd, o, true), (s) => runUnstake(s, parseAmount(amount, s.units, symbol))),
    );
  const withdrawCmd = chainFlags(program.command("withdraw"))
    .description("withdraw every unstake request that has unlocked (or say when the next one will)")
    .action(async (o: ChainOptions) => withSession(await open(withdrawCmd, o, true), runWithdraw));
  const claimCmd = chainFlags(program.command("claim"))
    .description("claim rewards earned as a reporter of proven faults")
    .action(async (o: ChainOptions) => withSession(await open(claimCmd, o, true), runClaim));

  const verify = readFlags(
    program
      .command("verify-dispute")
      .description(
        "recompute an execution dispute from the chain and the registered bytecode, and say which side is right (exit 0: a verdict; 2: cannot decide)",
      )
      .argument("<id>", "the dispute id (decimal or 0x-hex), from its DisputeOpened event"),
  )
    .option("--gateway <url>", "the Arweave gateway operator blobs are downloaded from", "https://arweave.net")
    .option("--cache-dir <dir>", "where downloaded operator blobs are cached (by hash)", ".maru/blobs")
    .option("--per-delta-ms <ms>", "operator time budget per delta", "10")
    .option("--json", "print JSON")
    .action(async (idText: string, raw: ChainOptions & Omit<VerifyOptions, "rpc" | "addresses">) => {
      const o = withConfig(verify, raw);
      const chain = requireChainOptions(o);
      process.exitCode = await verifyDispute(idText, { ...o, ...chain }, out);
    });

  const bondCmd = chainFlags(program.command("juror-bond"))
    .description(
      "the juror bond in the dispute court: show it, --deposit <amount> or --withdraw <amount|all> (token units)",
    )
    .option("--deposit <amount>", "move this much stake token from the account into the bond")
    .option("--withdraw <amount>", "move this much (or all) of the bond back to the account")
    .action(async (o: ChainOptions & { deposit?: string; withdraw?: string }) =>
      withSession(await open(bondCmd, o, true), (s) => runJurorBond(s, o)),
    );

  const keys = program.command("keys").description("staking keys");
  keys
    .command("new")
    .description("create a staking key in an encrypted JSON keystore (password: MARU_KEYSTORE_PASSWORD or typed)")
    .requiredOption("--keystore <file>", "where to write it (never overwritten)")
    .action(async (o: { keystore: string }) => {
      const address = await newKeystore(o.keystore);
      out(`created ${o.keystore} (mode 0600): keep it and its password, the key exists nowhere else`);
      out(address);
    });
  return program;
}
