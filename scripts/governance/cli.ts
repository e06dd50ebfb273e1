// Governance commands (docs/governance.md):
//   npm run gov -- register-operator --network localhost --addresses deployments/31337.json \
//                  --manifest operators/manifests/sum_by_key.yaml --gateway http://127.0.0.1:1984 --schedule
//   npm run gov -- deprecate-operator --id 3 --dry-run ...
//   npm run gov -- set-parameter --param MIN_STAKE --value 100 --safe-json plan.json ...   (token units)
//   npm run gov -- register-stream --name payments --schema … --propose --description "…" ...
//   npm run gov -- governor show --proposal <id> ...   (vote, queue, execute, list)
//   npm run gov -- list-operators | list-streams | graph --epoch 3 | status ...   (--json)
//   npm run gov -- arbitrate --id <dispute> --outcome A --safe-json arbitrate.json ...   (the court's arbitrator)
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Command, Option } from "commander";
import { id as keccakText, isAddress } from "ethers";
import { parse as parseYaml } from "yaml";
import { MaruError } from "../../client/errors/base.js";
import { connectNetwork } from "../lib/network.js";
import {
  acceptOwnership,
  allowAppender,
  checkAddressBook,
  deprecateOperator,
  PROTOCOL_INTERFACES,
  readAddressBook,
  registerOperator,
  registerStream,
  scheduleShares,
  setParameter,
  status,
  type Context,
  type Mode,
} from "./operations.js";
import { loadManifest } from "./manifest.js";
import {
  execute as executeProposal,
  listProposals,
  nextStep,
  proposalIdOf,
  queue as queueProposal,
  readProposal,
  vote as voteOnProposal,
  type GovernorContext,
  type Proposal,
} from "./governor.js";
import { arbitrate, parseOutcome } from "./arbitrate.js";
import { parseDisputeId } from "../../worker/disputes/verify.js";
import { milliseconds } from "../../worker/node/setup.js";
import { graphText, operatorTable, readGraph, readOperators, readStreams, streamTable, table, toJson } from "./read.js";

type ModeOptions = {
  dryRun?: boolean;
  schedule?: boolean;
  execute?: boolean;
  cancel?: boolean;
  propose?: boolean;
  safeJson?: string;
  description?: string;
};

function mode(o: ModeOptions): Mode {
  const chosen = [
    o.dryRun && "dry-run",
    o.safeJson && "safe-json",
    o.propose && "propose",
    o.schedule && "schedule",
    o.execute && "execute",
    o.cancel && "cancel",
  ].filter(Boolean) as Mode[];
  if (chosen.length !== 1)
    throw new MaruError(
      "Choose exactly one of --dry-run, --safe-json <file>, --propose, --schedule, --execute and --cancel.",
    );
  if (chosen[0] === "propose" && !o.description?.trim())
    throw new MaruError("--propose needs --description: the text token holders vote on.", {
      fix: '--description "Register the payments stream (INBOX, keyed by payer)"',
    });
  return chosen[0];
}

type ConnectOptions = { network?: string; rpcUrl?: string; addresses: string; from?: string };

/**
 * Connects to the network, then checks the addresses book against it before anything else reads
 * from it (its chain id, code at its addresses), and picks the account when one is needed.
 */
async function connect(o: ConnectOptions, needsSigner: boolean) {
  const book = await readAddressBook(o.addresses);
  const { connection, url } = await connectNetwork(
    { name: o.network, rpcUrl: o.rpcUrl },
    `--network ${book.chainId === 31337 || book.chainId === undefined ? "localhost" : "<name>"} (or run through \`npx hardhat run --network <name> scripts/governance/run.ts\`)`,
  );
  const provider = connection.ethers.provider;
  await checkAddressBook(provider, book, `the node of "${o.network}" at ${url}`);
  let signer;
  if (needsSigner) {
    const signers = await connection.ethers.getSigners().catch(() => []);
    signer = o.from ? signers.find((s) => s.address.toLowerCase() === o.from!.toLowerCase()) : signers[0];
    if (!signer)
      throw new MaruError(
        o.from
          ? `The account ${o.from} is not one of the network's accounts.`
          : `The network "${o.network}" has no account to send from.`,
        {
          details: signers.length ? [`accounts: ${signers.map((s) => s.address).join(", ")}`] : [],
          fix: "configure the account for the network (hardhat.config.ts accounts, a configuration variable), or pick one with --from.",
        },
      );
  }
  return { provider, signer, book, url };
}

async function context(
  o: ConnectOptions & ModeOptions & { salt?: string; governor?: string; safe?: string },
  m?: Mode,
): Promise<Context> {
  const needsSigner = m === "schedule" || m === "execute" || m === "cancel" || m === "propose";
  const { provider, signer, book } = await connect(o, needsSigner);
  return {
    provider,
    signer,
    book,
    log: (line) => console.log(line),
    salt: o.salt,
    safeJson: o.safeJson ? { file: o.safeJson, safe: o.safe } : undefined,
    proposal: m === "propose" ? { governor: o.governor, description: o.description! } : undefined,
  };
}

function address(v: string): string {
  if (!isAddress(v)) throw new MaruError(`"${v}" is not an address.`, { fix: "give 0x and 40 hex digits." });
  return v;
}

const withConnection = (c: Command) =>
  c
    .option("--network <name>", "a network of hardhat.config.ts (localhost, sepolia, baseSepolia); required")
    .option("--rpc-url <url>", "another RPC URL for that network (the network's own by default)")
    .requiredOption("--addresses <file>", "the addresses book the deploy script wrote (deployments/<chainId>.json)")
    .option("--from <address>", "which of the network's accounts sends (the first by default)");

const withCommon = (c: Command) =>
  withConnection(c)
    .addOption(new Option("--dry-run", "print the timelock calldata and send nothing (uploads nothing)"))
    .addOption(
      new Option(
        "--safe-json <file>",
        "write Safe Transaction Builder batches: <file> schedules, <file>.execute.json executes",
      ),
    )
    .option("--safe <address>", "with --safe-json: the Safe that will submit it (checked to be a proposer)", address)
    .addOption(new Option("--propose", "propose it to the governor (OpenZeppelin Governor); needs --description"))
    .option("--description <text>", "with --propose: the proposal's description")
    .option("--governor <address>", "with --propose: the governor (default: the book's `governor`)", address)
    .addOption(new Option("--schedule", "schedule through the timelock (proposer account)"))
    .addOption(new Option("--execute", "execute the ready operation"))
    .addOption(new Option("--cancel", "cancel the scheduled operation (canceller account)"))
    .option("--salt <text>", "make it a new operation (the same calls again after they were executed once)");

/**
 * A strict non-negative integer option (`--id`, `--from-block`): Number.parseInt would take
 * `1abc` as 1 and `2.7` as 2, and act on another operator or block than the one meant.
 */
function nonNegativeInteger(option: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
      throw new MaruError(`${option} must be a non-negative integer, got "${v}".`, {
        fix: `e.g. ${option} 3`,
      });
    return n;
  };
}

/** A basis-points value given on the command line. */
function bps(v: string): bigint {
  if (!/^\d+$/.test(v)) throw new MaruError(`expected a non-negative integer (basis points), got "${v}".`);
  return BigInt(v);
}

const program = new Command("gov")
  .description("Maru governance: changes go through the TimelockController")
  .showHelpAfterError();

withCommon(
  program
    .command("register-operator")
    .description("upload an operator's blobs to Arweave, check them on the gateway, and register it"),
)
  .requiredOption("--manifest <file>", "the operator manifest (JSON or YAML)")
  .option("--gateway <url>", "Arweave gateway", "http://127.0.0.1:1984")
  .option("--wallet <file>", "Arweave wallet (JWK) for a real gateway")
  .option(
    "--allow-unsupported-graph",
    "register it even if the reference worker cannot run the graph it makes (its workers sit such epochs out)",
  )
  .action(async (o) => {
    const m = mode(o);
    await loadManifest(o.manifest); // a bad manifest is reported before anything else happens
    await registerOperator(await context(o, m), {
      manifest: o.manifest,
      gateway: { url: o.gateway, wallet: o.wallet },
      mode: m,
      allowUnsupportedGraph: Boolean(o.allowUnsupportedGraph),
    });
  });

withCommon(program.command("register-stream").description("register a source stream (INBOX or CHAIN) or a DERIVED one"))
  .requiredOption("--name <name>", "the stream's name (its id is keccak256 of it) or a bytes32 id")
  .option("--schema <text>", "the schema (its hash is keccak256 of the text) or a bytes32 hash; not for CHAIN")
  .option("--partition <spec>", "WHOLE, or SLICE:<offset>:<length> (the key's bytes in each payload)", "WHOLE")
  .option(
    "--source <kind>",
    "INBOX (fed on-chain by allowed appenders), CHAIN (a contract's event logs on this chain) or DERIVED (an operator's output)",
    "INBOX",
  )
  .option("--emitter <address>", "CHAIN: the contract whose logs the stream reads")
  .option("--event <signature>", 'CHAIN: the event it reads, e.g. "Transfer(address,address,uint256)"')
  .action(async (o) => {
    const m = mode(o);
    await registerStream(await context(o, m), {
      name: o.name,
      schema: o.schema,
      partition: o.partition,
      source: o.source,
      emitter: o.emitter,
      event: o.event,
      mode: m,
    });
  });

withCommon(program.command("allow-appender").description("allow (or revoke) an account to append to an INBOX stream"))
  .requiredOption("--stream <name>", "the stream's name or bytes32 id")
  .requiredOption("--appender <address>", "the account that will append deltas")
  .option("--revoke", "revoke instead of allow")
  .action(async (o) => {
    const m = mode(o);
    await allowAppender(await context(o, m), {
      stream: o.stream,
      appender: o.appender,
      allow: !o.revoke,
      mode: m,
    });
  });

withCommon(program.command("deprecate-operator").description("deprecate an operator"))
  .requiredOption("--id <n>", "operator id", nonNegativeInteger("--id"))
  .action(async (o) => {
    const m = mode(o);
    await deprecateOperator(await context(o, m), { id: o.id, mode: m });
  });

withCommon(program.command("set-parameter").description("set an EpochManager parameter"))
  .requiredOption("--param <name>", "e.g. MIN_STAKE, EPOCH_DURATION")
  .requiredOption(
    "--value <value>",
    'the new value in its units: token units for MIN_STAKE (100 or "100 tMARU", not wei), seconds for durations, a whole number for counts',
  )
  .action(async (o) => {
    const m = mode(o);
    await setParameter(await context(o, m), { param: o.param, value: o.value, mode: m });
  });

withCommon(
  program
    .command("schedule-shares")
    .description("schedule new punishment shares (REWARD_BPS, SLASH_BPS of each fault); they wait ruleChangeDelay()"),
)
  .requiredOption("--reward-bps <integer>", "the reporter's share of a slash, 0..5000", bps)
  .requiredOption(
    "--slash-bps <list>",
    "six integers 0..10000: misrouted delta, equivocation, batch mismatch, broken chain, invalid accumulated proof, execution",
    (v) => v.split(",").map((x) => bps(x.trim())),
  )
  .action(async (o) => {
    const m = mode(o);
    await scheduleShares(await context(o, m), { rewardBps: o.rewardBps, slashBps: o.slashBps, mode: m });
  });

withCommon(
  program
    .command("accept-ownership")
    .description("the timelock accepts the VRF beacon and the VRF subscription the deployment offered it"),
).action(async (o) => {
  const m = mode(o);
  const r = await acceptOwnership(await context(o, m), { mode: m });
  if (r.blocked.length) {
    throw new MaruError(`The timelock cannot accept ${r.blocked.map((b) => b.what).join(" and ")} yet.`, {
      details: r.blocked.map((b) => `${b.what}: ${b.reason}`),
      fix: `${r.blocked.map((b) => b.fix).join("; ")}; then run this command again.`,
    });
  }
  if (m === "execute" && r.unscheduled.length) {
    throw new MaruError(`Nothing is scheduled for ${r.unscheduled.map((a) => a.what).join(" and ")}.`, {
      fix: "run the same command with --schedule first (or submit the --dry-run calldata through the proposer).",
    });
  }
  const early = r.waiting.filter((w) => w.state === "Waiting");
  if (m === "execute" && early.length) {
    const at = new Date(Math.max(...early.map((w) => w.readyAt)) * 1000).toISOString();
    throw new MaruError(`The timelock's delay has not passed: ready at ${at}.`, {
      fix: "run --execute after that time.",
    });
  }
  if (r.scheduled.length || r.waiting.length)
    console.log("next: the same command with --execute once the delay has passed");
  if (r.printed.length) console.log("next: the proposer schedules the printed operations; after the delay, --execute");
  if (r.done.length === 2) console.log("nothing to do: the timelock owns the VRF beacon and the VRF subscription");
});

withConnection(
  program
    .command("arbitrate")
    .description(
      "the court's arbitrator decides an appealed or undecided execution dispute (sent directly or as a Safe batch, not through the timelock)",
    ),
)
  .requiredOption("--id <id>", "the dispute id (decimal or 0x-hex)", (v) => parseDisputeId(v))
  .requiredOption("--outcome <side>", "A, B, NEITHER (both slashed) or DRAW (nobody slashed)", parseOutcome)
  .addOption(new Option("--dry-run", "print the call and send nothing"))
  .addOption(new Option("--send", "send it from the arbitrator account (--from)"))
  .addOption(new Option("--safe-json <file>", "write a Safe Transaction Builder batch for the arbitrator's Safe"))
  .option("--safe <address>", "with --safe-json: the Safe (checked to be the arbitrator)", address)
  .option("--gateway <url>", "the Arweave gateway the operator is fetched from", "https://arweave.net")
  .option("--cache-dir <dir>", "where fetched operator blobs are cached", ".maru/blobs")
  .option(
    "--per-delta-ms <ms>",
    "the operator's time budget per delta when recomputing",
    (v) => milliseconds("--per-delta-ms", v),
    50,
  )
  .option(
    "--against-verification",
    "decide an outcome that slashes although the recomputation says otherwise or cannot",
  )
  .action(async (o) => {
    const chosen = [o.dryRun && "dry-run", o.send && "send", o.safeJson && "safe-json"].filter(Boolean);
    if (chosen.length !== 1) throw new MaruError("Choose exactly one of --dry-run, --send and --safe-json <file>.");
    const { provider, signer } = await connect(o, chosen[0] === "send");
    await arbitrate(
      { provider, signer, bookFile: o.addresses, log: (line) => console.log(line) },
      {
        id: o.id,
        outcome: o.outcome,
        mode: chosen[0] as "dry-run" | "send" | "safe-json",
        safeJson: o.safeJson ? { file: o.safeJson, safe: o.safe } : undefined,
        gateway: o.gateway,
        cacheDir: o.cacheDir,
        perDeltaMs: o.perDeltaMs as number,
        againstVerification: o.againstVerification === true,
      },
    );
  });

withConnection(program.command("status").description("list the timelock's scheduled operations: pending, ready, done"))
  .option(
    "--from-block <n>",
    "where to start reading (default: the book's startBlock)",
    nonNegativeInteger("--from-block"),
  )
  .action(async (o) => {
    const ctx = await context(o);
    await status(ctx, { fromBlock: o.fromBlock ?? ctx.book.startBlock ?? 0 });
  });

/** Stream names to label ids with: the repository's manifests' streams and --names (the chain stores none). */
async function knownNames(extra: string[] = []): Promise<string[]> {
  const dir = new URL("../../operators/manifests/", import.meta.url).pathname;
  const names = new Set(extra);
  for (const f of await readdir(dir).catch(() => [])) {
    if (!/\.(ya?ml|json)$/.test(f) || f.includes(".lock.")) continue;
    try {
      const text = await readFile(join(dir, f), "utf8");
      const m = (/\.json$/.test(f) ? JSON.parse(text) : parseYaml(text)) as { inputs?: unknown[]; outputs?: unknown[] };
      for (const s of [...(m.inputs ?? []), ...(m.outputs ?? [])])
        names.add(typeof s === "string" ? s : String((s as { stream: string }).stream));
    } catch {
      // a manifest that does not parse labels nothing; register-operator reports it
    }
  }
  return [...names].filter((n) => !/^0x[0-9a-fA-F]{64}$/.test(n));
}

const namesOption = (v: string) =>
  v
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
const byId = (names: string[]) => new Map(names.map((n) => [keccakText(n), n]));

withConnection(program.command("list-operators").description("every registered operator"))
  .option("--names <list>", "stream names to label ids with (comma-separated)", namesOption, [])
  .option("--json", "JSON for scripts")
  .action(async (o) => {
    const ctx = await context(o);
    const ops = await readOperators(ctx);
    if (o.json) return console.log(toJson(ops));
    for (const line of operatorTable(ops, byId(await knownNames(o.names)))) console.log(line);
  });

withConnection(program.command("list-streams").description("every registered stream, with the appenders of INBOX ones"))
  .option("--names <list>", "stream names to label ids with (comma-separated)", namesOption, [])
  .option("--json", "JSON for scripts")
  .action(async (o) => {
    const ctx = await context(o);
    const streams = await readStreams(ctx, await knownNames(o.names));
    if (o.json) return console.log(toJson(streams));
    for (const line of streamTable(streams)) console.log(line);
  });

withConnection(
  program.command("graph").description("the operator graph an epoch pinned, synced and checked as a worker does"),
)
  .requiredOption("--epoch <n>", "the epoch (frozen)", (v) => {
    if (!/^\d+$/.test(v)) throw new MaruError(`--epoch must be a non-negative integer, got "${v}".`);
    return BigInt(v);
  })
  .option("--gateway <url>", "the Arweave gateway the blobs are checked on", "http://127.0.0.1:1984")
  .option("--names <list>", "stream names to label ids with (comma-separated)", namesOption, [])
  .option("--json", "JSON for scripts")
  .action(async (o) => {
    const ctx = await context(o);
    const graph = await readGraph(ctx, o.epoch, o.gateway);
    if (o.json) return console.log(toJson(graph));
    for (const line of graphText(graph, byId(await knownNames(o.names)))) console.log(line);
  });

// The Governor path: `<command> --propose --description …` creates a proposal; these follow it.
const governor = program
  .command("governor")
  .description("follow governor proposals: list, show, vote, queue, execute (propose with any command's --propose)");

async function governorContext(o: ConnectOptions & { governor?: string; fromBlock?: number }, needsSigner: boolean) {
  const { provider, signer, book } = await connect(o, needsSigner);
  const at = o.governor ?? book.governor;
  if (!at)
    throw new MaruError("Which governor?", {
      fix: "give --governor <address>, or add `governor` to the addresses book.",
    });
  const ctx: GovernorContext = {
    provider,
    signer,
    governor: at,
    log: (line) => console.log(line),
    fromBlock: o.fromBlock ?? book.startBlock ?? 0,
  };
  return ctx;
}

const withGovernor = (c: Command) =>
  withConnection(c)
    .option("--governor <address>", "the governor (default: the book's `governor`)", address)
    .option(
      "--from-block <n>",
      "where to read proposals from (default: the book's startBlock)",
      nonNegativeInteger("--from-block"),
    )
    .option("--json", "JSON for scripts");

function showProposal(p: Proposal): string[] {
  return [
    `proposal ${p.id}: ${p.state}`,
    `  ${p.description.split("\n")[0]}`,
    `  votes for ${p.votes.for}, against ${p.votes.against}, abstain ${p.votes.abstain}; quorum ${p.quorum}`,
    `  voting blocks ${p.voteStart + 1n}..${p.voteEnd}${p.eta ? `; executable at ${new Date(Number(p.eta) * 1000).toISOString()}` : ""}`,
    ...p.targets.map((t, i) => `  call ${t} ${p.calldatas[i].slice(0, 10)}…`),
    `  next: ${nextStep(p)}`,
  ];
}

withGovernor(governor.command("list").description("every proposal with its state")).action(async (o) => {
  const ps = await listProposals(await governorContext(o, false));
  if (o.json) return console.log(toJson(ps));
  if (!ps.length) return console.log("no proposal");
  for (const line of table(
    ["proposal", "state", "for", "against", "description"],
    ps.map((p) => [
      p.id.toString(),
      p.state,
      String(p.votes.for),
      String(p.votes.against),
      p.description.split("\n")[0],
    ]),
  ))
    console.log(line);
});

withGovernor(governor.command("show").description("a proposal: state, votes, calls, what is next"))
  .requiredOption("--proposal <id>", "the proposal id", proposalIdOf)
  .action(async (o) => {
    const p = await readProposal(await governorContext(o, false), o.proposal);
    if (o.json) return console.log(toJson(p));
    for (const line of showProposal(p)) console.log(line);
  });

withGovernor(governor.command("vote").description("vote on an Active proposal"))
  .requiredOption("--proposal <id>", "the proposal id", proposalIdOf)
  .requiredOption("--support <vote>", "for, against or abstain")
  .option("--reason <text>", "a reason, recorded with the vote")
  .action(async (o) => {
    const p = await voteOnProposal(await governorContext(o, true), o.proposal, o.support, o.reason);
    for (const line of showProposal(p)) console.log(line);
  });

withGovernor(governor.command("queue").description("queue a Succeeded proposal in the timelock"))
  .requiredOption("--proposal <id>", "the proposal id", proposalIdOf)
  .action(async (o) => {
    const p = await queueProposal(await governorContext(o, true), o.proposal);
    for (const line of showProposal(p)) console.log(line);
  });

withGovernor(governor.command("execute").description("execute a Queued proposal after the timelock's delay"))
  .requiredOption("--proposal <id>", "the proposal id", proposalIdOf)
  .action(async (o) => {
    const p = await executeProposal(await governorContext(o, true), o.proposal, PROTOCOL_INTERFACES);
    for (const line of showProposal(p)) console.log(line);
  });

program.parseAsync().catch((e: unknown) => {
  if (e instanceof MaruError) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
  console.error(`unexpected error: ${(e as Error).message ?? e}`);
  process.exit(2);
});
