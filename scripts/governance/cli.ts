// Governance commands (docs/governance.md):
//   npm run gov -- register-operator --network localhost --addresses deployments/31337.json \
//                  --manifest operators/balances.yaml --gateway http://127.0.0.1:1984 --schedule
//   npm run gov -- deprecate-operator --id 3 --dry-run ...
//   npm run gov -- set-parameter --param MIN_STAKE --value 100000000000000000000 --schedule ...
//   npm run gov -- accept-ownership --schedule ...   (then --execute after the timelock delay)
//   npm run gov -- status ...
import { Command, Option } from "commander";
import { network } from "hardhat";
import { MaruError } from "../../client/errors/base.js";
import {
  acceptOwnership,
  allowAppender,
  deprecateOperator,
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

function mode(o: { dryRun?: boolean; schedule?: boolean; execute?: boolean; cancel?: boolean }): Mode {
  const chosen = [o.dryRun && "dry-run", o.schedule && "schedule", o.execute && "execute", o.cancel && "cancel"].filter(
    Boolean,
  ) as Mode[];
  if (chosen.length !== 1) throw new MaruError("Choose exactly one of --dry-run, --schedule, --execute and --cancel.");
  return chosen[0];
}

async function context(
  o: { network?: string; addresses: string; salt?: string },
  needsSigner: boolean,
): Promise<Context> {
  const book = await readAddressBook(o.addresses);
  let conn;
  try {
    // Without --network: the network `hardhat run --network …` selected, or the default.
    conn = await network.create(o.network);
    await conn.ethers.provider.getBlockNumber();
  } catch (cause) {
    throw new MaruError(`Cannot reach the network "${o.network ?? "(default)"}".`, {
      fix: "start the node (npx hardhat node) or check the network's URL in hardhat.config.ts.",
      cause,
    });
  }
  const signer = needsSigner ? (await conn.ethers.getSigners())[0] : undefined;
  return { provider: conn.ethers.provider, signer, book, log: (line) => console.log(line), salt: o.salt };
}

const withCommon = (c: Command) =>
  c
    .option("--network <name>", "a network of hardhat.config.ts (localhost, sepolia, …); default: hardhat's")
    .requiredOption("--addresses <file>", "the addresses book the deploy script wrote")
    .addOption(new Option("--dry-run", "print the timelock calldata (for a multisig or the governor) and send nothing"))
    .addOption(new Option("--schedule", "schedule through the timelock (proposer account)"))
    .addOption(new Option("--execute", "execute the ready operation"))
    .addOption(new Option("--cancel", "cancel the scheduled operation (canceller account)"))
    .option("--salt <text>", "make it a new operation (the same calls again after they were executed once)");

/** A basis-points value given on the command line. */
function bps(v: string): bigint {
  if (!/^\d+$/.test(v)) throw new MaruError(`expected a non-negative integer (basis points), got "${v}".`);
  return BigInt(v);
}

const program = new Command("gov")
  .description("Maru governance: changes go through the TimelockController")
  .showHelpAfterError();

withCommon(program.command("register-operator").description("upload an operator's blobs to Arweave and register it"))
  .requiredOption("--manifest <file>", "the operator manifest (JSON or YAML)")
  .option("--gateway <url>", "Arweave gateway", "http://127.0.0.1:1984")
  .option("--wallet <file>", "Arweave wallet (JWK) for a real gateway")
  .action(async (o) => {
    const m = mode(o);
    await loadManifest(o.manifest); // a bad manifest is reported before anything else happens
    await registerOperator(await context(o, m !== "dry-run"), {
      manifest: o.manifest,
      gateway: { url: o.gateway, wallet: o.wallet },
      mode: m,
    });
  });

withCommon(program.command("register-stream").description("register a source stream (INBOX) or a DERIVED one"))
  .requiredOption("--name <name>", "the stream's name (its id is keccak256 of it) or a bytes32 id")
  .requiredOption("--schema <text>", "the schema (its hash is keccak256 of the text) or a bytes32 hash")
  .option("--partition <spec>", "WHOLE, or SLICE:<offset>:<length> (the key's bytes in each payload)", "WHOLE")
  .option("--source <kind>", "INBOX (fed on-chain by allowed appenders) or DERIVED (an operator's output)", "INBOX")
  .action(async (o) => {
    const m = mode(o);
    await registerStream(await context(o, m !== "dry-run"), {
      name: o.name,
      schema: o.schema,
      partition: o.partition,
      source: o.source,
      mode: m,
    });
  });

withCommon(program.command("allow-appender").description("allow (or revoke) an account to append to an INBOX stream"))
  .requiredOption("--stream <name>", "the stream's name or bytes32 id")
  .requiredOption("--appender <address>", "the account that will append deltas")
  .option("--revoke", "revoke instead of allow")
  .action(async (o) => {
    const m = mode(o);
    await allowAppender(await context(o, m !== "dry-run"), {
      stream: o.stream,
      appender: o.appender,
      allow: !o.revoke,
      mode: m,
    });
  });

withCommon(program.command("deprecate-operator").description("deprecate an operator"))
  .requiredOption("--id <n>", "operator id", (v) => Number.parseInt(v, 10))
  .action(async (o) => {
    const m = mode(o);
    await deprecateOperator(await context(o, m !== "dry-run"), { id: o.id, mode: m });
  });

withCommon(program.command("set-parameter").description("set an EpochManager parameter"))
  .requiredOption("--param <name>", "e.g. MIN_STAKE, EPOCH_DURATION")
  .requiredOption("--value <integer>", "the new value (an integer, in wei for amounts)", (v) => {
    if (!/^\d+$/.test(v)) throw new MaruError(`--value must be a non-negative integer, got "${v}".`);
    return BigInt(v);
  })
  .action(async (o) => {
    const m = mode(o);
    await setParameter(await context(o, m !== "dry-run"), { param: o.param, value: o.value, mode: m });
  });

withCommon(
  program
    .command("schedule-shares")
    .description("schedule new punishment shares (REWARD_BPS, SLASH_BPS of each fault); they wait ruleChangeDelay()"),
)
  .requiredOption("--reward-bps <integer>", "the reporter's share of a slash, 0..5000", bps)
  .requiredOption(
    "--slash-bps <list>",
    "five integers 0..10000: misrouted delta, equivocation, batch mismatch, broken chain, invalid accumulated proof",
    (v) => v.split(",").map((x) => bps(x.trim())),
  )
  .action(async (o) => {
    const m = mode(o);
    await scheduleShares(await context(o, m !== "dry-run"), { rewardBps: o.rewardBps, slashBps: o.slashBps, mode: m });
  });

withCommon(
  program
    .command("accept-ownership")
    .description("the timelock accepts the VRF beacon and the VRF subscription the deployment offered it"),
).action(async (o) => {
  const m = mode(o);
  const r = await acceptOwnership(await context(o, m !== "dry-run"), { mode: m });
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

program
  .command("status")
  .description("list the timelock's scheduled operations: pending, ready, done")
  .option("--network <name>", "a network of hardhat.config.ts; default: hardhat's")
  .requiredOption("--addresses <file>", "the addresses book")
  .option("--from-block <n>", "where to start reading", (v) => Number.parseInt(v, 10), 0)
  .action(async (o) => {
    await status(await context(o, false), { fromBlock: o.fromBlock });
  });

program.parseAsync().catch((e: unknown) => {
  if (e instanceof MaruError) {
    console.error(`error: ${e.message}`);
    process.exit(1);
  }
  console.error(`unexpected error: ${(e as Error).message ?? e}`);
  process.exit(2);
});
