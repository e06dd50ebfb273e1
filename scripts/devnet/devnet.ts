// npm run devnet: everything on this machine, no configuration. A chain node (anvil) and an Arweave
// gateway (arlocal) in their own processes, the protocol deployed with Ignition (localhost
// parameters), the sample dataflow registered through the timelock, N maru-worker processes, a
// feeder appending transfers to the inbox, and Chainlink's VRF mock fulfilled every epoch. It shows
// progress, ends with a summary table, and exits 1 when the run does not show what it must
// (docs/devnet.md).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, Option } from "commander";
import cliProgress from "cli-progress";
import { network } from "hardhat";
import { Wallet, id, toUtf8String } from "ethers";
import { MaruError } from "../../client/errors/base.js";
import { formatAmount } from "../../client/units.js";
import { deployProtocol } from "../deploy/lib.js";
import { startAnvil, startArlocal } from "../lib/processes.js";
import { BYZANTINE_MODES } from "../../worker/adversary/modes.js";
import { FAULT_NAMES } from "../../worker/guard/evidence.js";
import { SIDE_NAMES } from "../../worker/disputes/records.js";
import { WORKER_ENV } from "../../worker/node/setup.js";
import type { LoadToken } from "../../typechain-types/index.js";
import {
  encodeTransfer,
  makeTransfers,
  readEpochTruth,
  registerSample,
  SOURCE_STREAMS,
  APPROVE_EVERY,
  type SourceChoice,
  type Transfer,
} from "./sample.js";
import { floodWorker, reorgChain, type Flood, type Reorg } from "./chaos.js";
import {
  checkExpectations,
  checkOutput,
  summaryTable,
  type DevnetReport,
  type Slash,
  type WorkerReport,
} from "./report.js";

const program = new Command()
  .name("devnet")
  .description("Run the whole protocol on this machine: chain, gateway, deployment, workers, feeder.")
  .option("--workers <n>", "worker processes", "4")
  .option("--replication <k>", "holders per shard (k)", "2")
  .option("--epochs <e>", "epochs that carry source deltas", "2")
  .option("--deltas <d>", "source deltas (transfers) to feed, spread over the epochs", "400")
  .option("--accounts <a>", "accounts the transfers move between", "16")
  .addOption(
    new Option(
      "--source <kind>",
      "where the transfers come from: chain (an ERC-20's Transfer logs, moved by a load generator) or inbox (appended to a StreamInbox stream)",
    )
      .choices(["chain", "inbox"])
      .default("chain"),
  )
  .addOption(new Option("--byzantine <mode>", "one worker cheats this way").choices([...BYZANTINE_MODES]))
  .option("--json <file>", "write the report as JSON")
  .option("--keep-running", "keep the chain node and the gateway up after the summary, until Ctrl-C")
  .option("--no-checks", "workers accept batches unverified (to measure what the checks cost)")
  .option(
    "--no-join",
    "run the balances dataflow alone (the CHAIN source's other two dataflows, a join and one of two exchanges, are left out)",
  )
  .option("--seed <n>", "seed of the generated transfers", "1")
  .option("--timeout <s>", "give up after this many seconds", "600")
  .option("--keep-files", "keep the working directory (worker reports, addresses book) and print its path")
  .option("--quiet", "no progress bars, only milestones")
  .option("--profile <dir>", "write a V8 CPU profile of each worker process into <dir> (node --cpu-prof)")
  .option(
    "--chaos",
    "kill an honest worker with SIGKILL mid-epoch and restart it, reorganise the chain deeper than the confirmation depth, and flood a worker from a non-member peer: nobody honest may be slashed",
  );

type Opts = {
  workers: string;
  replication: string;
  epochs: string;
  deltas: string;
  accounts: string;
  source: SourceChoice;
  byzantine?: string;
  json?: string;
  keepRunning?: boolean;
  checks: boolean;
  join: boolean;
  seed: string;
  timeout: string;
  quiet?: boolean;
  profile?: string;
  keepFiles?: boolean;
  chaos?: boolean;
};

class DevnetError extends Error {}

/** Blocks behind the head that workers treat as final (anvil's own `finalized` tag lags 64 blocks). */
const FINALITY_DEPTH = 4;
/** How deep a VRF fulfilment must be before workers use it; --chaos reorganises deeper than this. */
const CONFIRMATIONS = 1;
const REORG_DEPTH = 3;
/** The worker as plain JavaScript (scripts/build/worker.mjs builds it at the start of every run). */
const WORKER = "build/node/worker/main.js";

/** Signals a worker's process group (the worker and anything it starts). */
function signalGroup(proc: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-proc.pid!, signal);
  } catch {
    proc.kill(signal);
  }
}

const say = (line: string) => process.stderr.write(`devnet: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const o = program.parse().opts<Opts>();
  const workers = Number(o.workers);
  const k = Number(o.replication);
  const epochCount = Number(o.epochs);
  const deltaCount = Number(o.deltas);
  if (![workers, k, epochCount, deltaCount, Number(o.accounts)].every((x) => Number.isInteger(x) && x > 0))
    throw new DevnetError("--workers, --replication, --epochs, --deltas and --accounts take positive integers");
  if (Number(o.accounts) < 2)
    throw new DevnetError("--accounts must be 2 or more: a transfer moves between two accounts");
  if (k > workers) throw new DevnetError(`--replication ${k} needs at least ${k} workers (--workers ${workers})`);
  if (o.byzantine && (k < 2 || workers < 3))
    throw new DevnetError(
      "a cheating worker needs --replication 2 or more and 3 or more workers, so honest replicas remain",
    );

  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      say(`${sig}: stopping everything`);
      void cleanup().then(() => process.exit(130));
    });
  }
  try {
    return await run(o, { workers, k, epochCount, deltaCount }, cleanups);
  } finally {
    await cleanup();
  }
}

async function run(
  o: Opts,
  n: { workers: number; k: number; epochCount: number; deltaCount: number },
  cleanups: Array<() => Promise<void> | void>,
): Promise<number> {
  const deadline = Date.now() + Number(o.timeout) * 1000;
  const work = mkdtempSync(join(tmpdir(), "maru-devnet-"));
  if (o.keepFiles) say(`working directory (kept): ${work}`);
  else cleanups.push(() => rmSync(work, { recursive: true, force: true }));

  // 0. The worker as plain JavaScript (build/node), built from the sources as they are now: the
  // workers run it as users do (npm run worker), without a TypeScript loader.
  const built = spawnSync(process.execPath, ["scripts/build/worker.mjs", "--quiet"], { encoding: "utf8" });
  if (built.status !== 0) throw new Error(`building the worker failed: ${built.stderr || built.stdout}`);

  // 1. The chain node and the gateway, each in its own process.
  const chain = await startAnvil();
  cleanups.push(() => chain.stop());
  const gateway = await startArlocal();
  cleanups.push(() => gateway.stop());
  say(`chain node (anvil) at ${chain.url}, Arweave gateway (arlocal) at ${gateway.url}`);

  // 2. The deployment (the same Ignition modules and checks as npm run deploy:local).
  const conn = await network.create({ network: "localhost", override: { url: chain.url } });
  const { ethers, provider } = conn;
  const deploymentId = `devnet-${process.pid}-${Date.now()}`;
  cleanups.push(() =>
    rmSync(join(process.cwd(), "deploy/deployments", deploymentId), { recursive: true, force: true }),
  );
  const bookFile = join(work, "addresses.json");
  const book = await deployProtocol(conn, { deploymentId, bookFile, log: (l) => say(l) });
  const [deployer, feeder] = await ethers.getSigners();
  say(`deployed; addresses book ${bookFile}`);

  // 3. The sample dataflow, through the timelock. A CHAIN source reads the Transfer logs of an
  // ERC-20 deployed here, its pool of accounts funded before the first epoch.
  let loadToken: LoadToken | undefined;
  if (o.source === "chain") {
    loadToken = await (await ethers.getContractFactory("LoadToken", feeder)).deploy();
    await loadToken.waitForDeployment();
    await (await loadToken.fund(Number(o.accounts), 10n ** 15n)).wait();
    say(`ERC-20 load token at ${await loadToken.getAddress()}, ${o.accounts} accounts funded`);
  }
  await registerSample({
    provider: ethers.provider,
    proposer: deployer,
    book,
    gateway: gateway.url,
    feeder: feeder.address,
    source: o.source,
    join: o.join && o.source === "chain",
    token: loadToken && (await loadToken.getAddress()),
    replication: n.k,
    minWorkers: n.k,
    workDir: join(work, "sample"),
    log: say,
  });

  // 4. The workers: funded, given the minimum stake, and started.
  const token = await ethers.getContractAt("TestToken", book.contracts.stakeToken);
  const units = { decimals: Number(await token.decimals()), symbol: await token.symbol() };
  const epochs = await ethers.getContractAt("EpochManager", book.contracts.epochManager);
  const inbox = await ethers.getContractAt("StreamInbox", book.contracts.streamInbox);
  const coordinator = await ethers.getContractAt("VRFCoordinatorV2_5Mock", book.contracts.vrfCoordinator);
  const minStake = await epochs.parameter(0);
  const keys = Array.from({ length: n.workers }, () => Wallet.createRandom());
  const addresses = keys.map((w) => w.address.toLowerCase());
  const cheater = o.byzantine ? 1 : -1;
  // The minimum stake, and beside it one appeal bond and four juror deposits (execution disputes:
  // a drawn juror locks a deposit per vote; a party keeps an appeal bond for its own defence).
  const court = await ethers.getContractAt(
    "ExecutionDisputes",
    await (await ethers.getContractAt("FraudProofs", book.contracts.fraudProofs)).disputes(),
  );
  const { jurorDeposit, appealBond } = await court.disputeRules();
  for (const w of keys) {
    await provider.request({ method: "anvil_setBalance", params: [w.address, "0x56bc75e2d63100000"] });
    await (await token.mint(w.address, minStake + appealBond + 4n * jurorDeposit)).wait();
  }
  // Progress: what each worker logs.
  const stats = keys.map(() => ({
    epoch: "-",
    started: 0n,
    accepted: 0,
    evidence: 0,
    sent: new Set<string>(),
    finished: new Set<string>(),
  }));
  type Proc = {
    proc: ChildProcess;
    exit: Promise<number | null>;
    code?: number | null;
    lines: string[];
    status: string;
  };
  const signingKeys = keys.map(() => Wallet.createRandom().privateKey);
  const spawnWorker = (i: number): Proc => {
    const w = keys[i];
    const args = [
      ...(o.profile ? ["--cpu-prof", `--cpu-prof-dir=${o.profile}`] : []),
      WORKER,
      ...["--rpc", chain.url, "--addresses", bookFile, "--gateway", gateway.url],
      ...["--cache-dir", join(work, `blobs-${i}`), "--data-dir", join(work, `data-${i}`)],
      ...["--until-epoch", String(n.epochCount), "--finality", String(FINALITY_DEPTH)],
      ...["--listen", `/ip4/127.0.0.1/tcp/${ports[i]}`],
      ...["--poll-ms", "200", "--confirmations", String(CONFIRMATIONS), "--grace-ms", "15000"],
      ...["--report", join(work, `worker-${i}.json`)],
      ...(o.checks ? [] : ["--no-checks"]),
      ...(i === cheater ? ["--byzantine", o.byzantine!] : []),
    ];
    // The same staking and signing keys and data directory on every start: a restart, not a new worker.
    const proc = spawn(process.execPath, args, {
      env: { ...WORKER_ENV, ...process.env, MARU_WORKER_KEY: w.privateKey, MARU_SIGNING_KEY: signingKeys[i] },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: a kill reaches it and nothing else
    });
    const p: Proc = {
      proc,
      lines: procs[i]?.lines ?? [],
      status: "starting",
      exit: new Promise((resolve) => proc.once("exit", (code) => resolve(code))),
    };
    void p.exit.then((code) => (p.code = code));
    const logFile = createWriteStream(join(work, `worker-${i}.log`), { flags: "a" });
    proc.stdout!.pipe(logFile);
    proc.stderr!.pipe(logFile);
    let buffered = "";
    proc.stdout!.on("data", (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) onLog(i, line);
    });
    proc.stderr!.on("data", (d: Buffer) => keep(p, d.toString()));
    return p;
  };
  const ports = keys.map((_, i) => chain.port + 100 + i);
  const procs: Proc[] = [];
  for (let i = 0; i < keys.length; ++i) procs[i] = spawnWorker(i);
  cleanups.push(async () => {
    for (const p of procs) {
      if (p.code === undefined) {
        signalGroup(p.proc, "SIGTERM");
        await Promise.race([p.exit, sleep(5_000)]);
        if (p.code === undefined) signalGroup(p.proc, "SIGKILL");
      }
    }
  });
  say(
    `${n.workers} workers started (replication ${n.k})${o.byzantine ? `; worker ${addresses[cheater]} cheats: ${o.byzantine}` : ""}`,
  );

  function onLog(i: number, line: string) {
    keep(procs[i], line);
    let m: { msg?: string; epoch?: string; acceptedDeltas?: number; status?: string };
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    const s = stats[i];
    if (m.msg === "dataflow started" || m.msg === "dataflow resumed (replaying the epoch)") {
      s.epoch = String(m.epoch);
      s.started = BigInt(m.epoch!);
    }
    if (m.msg === "not a member of the epoch") s.started = BigInt(m.epoch!);
    if (m.msg === "epoch sent (batches, proofs and end notices)") s.sent.add(String(m.epoch));
    if (m.msg === "epoch finished") {
      s.accepted += m.acceptedDeltas ?? 0;
      s.finished.add(String(m.epoch));
    }
    if (m.msg === "evidence") {
      s.evidence += 1;
      if (o.quiet || !process.stderr.isTTY) say(`worker ${i} submitted evidence: ${m.status}`);
    }
    if (m.msg === "cheated (byzantine mode)" && (o.quiet || !process.stderr.isTTY)) say(`worker ${i} cheated`);
    procs[i].status = m.msg ?? procs[i].status;
  }
  const bars =
    !o.quiet && process.stderr.isTTY
      ? new cliProgress.MultiBar(
          {
            format: " {name} | epoch {epoch} | {value}/{total} deltas fed | {what}",
            hideCursor: true,
            clearOnComplete: false,
          },
          cliProgress.Presets.shades_grey,
        )
      : undefined;
  const feedBar = bars?.create(n.deltaCount, 0, { name: "feeder  ", epoch: "-", what: "" });
  const workerBars = keys.map((_, i) => bars?.create(n.deltaCount, 0, { name: `worker ${i}`, epoch: "-", what: "" }));
  cleanups.push(() => bars?.stop());

  // 5. The conductor: VRF fulfilment, the feeder, and the clock.
  const transfers = makeTransfers(n.deltaCount, Number(o.accounts), Number(o.seed));
  const perEpoch = Math.ceil(n.deltaCount / n.epochCount);
  const streamId = id(SOURCE_STREAMS.inbox);
  const fulfilled = new Set<bigint>();
  let fed = 0;
  /** Approval logs the load generator made (the join's second source), counted in the source rate. */
  let approvalsFed = 0;
  const approveEvery = loadToken && o.join ? APPROVE_EVERY : 0;
  let fedEpoch = 0n;
  let startedAt = 0;
  let waitingSince = Date.now();
  let lastStatus = 0;
  let scanFrom = book.startBlock;
  const jailed = new Set<string>(); // slashed workers (jailed): the clock does not wait for them
  // --chaos: an honest worker killed (SIGKILL) and restarted twice, once just after it finished
  // epoch 1 and once in the middle of epoch 2; a reorg deeper than the confirmation depth right
  // after epoch 2 begins (the blocks around epoch 1's last block); a flood from a non-member.
  const victim = cheater === 1 ? 2 : 1;
  const restarts: Array<{ worker: string; epoch: string; when: string; at: number }> = [];
  const reorgs: Reorg[] = [];
  const floods: Flood[] = [];
  const advancedAt = new Map<bigint, number>();
  let restarting = false;
  let flooding: Promise<void> | undefined;
  let startedSeen = 0n;
  let startedAt2 = 0;
  let reorgTries = 0;
  const restart = async (when: string, epoch: bigint) => {
    restarting = true;
    say(`chaos: SIGKILL worker ${victim} (${when})`);
    signalGroup(procs[victim].proc, "SIGKILL");
    await procs[victim].exit;
    await sleep(1_000);
    procs[victim] = spawnWorker(victim);
    restarts.push({ worker: addresses[victim], epoch: epoch.toString(), when, at: Date.now() });
    say(`chaos: worker ${victim} restarted with the same keys and data directory`);
    restarting = false;
  };
  while (restarting || procs.some((p) => p.code === undefined)) {
    if (Date.now() > deadline) throw new DevnetError(`timed out after ${o.timeout} s; worker logs:\n${tail(procs)}`);
    const current = await epochs.currentEpoch();
    const head = await ethers.provider.getBlockNumber();
    for (const e of await epochs.queryFilter(epochs.filters.EpochFrozen(), scanFrom, head)) {
      const requestId = e.args.requestId as bigint;
      if (requestId !== 0n && !fulfilled.has(requestId)) {
        fulfilled.add(requestId);
        await (await coordinator.fulfillRandomWords(requestId, book.contracts.beacon)).wait().catch(() => undefined);
      }
    }
    for (const e of await epochs.queryFilter(epochs.filters.Slashed(), scanFrom, head))
      jailed.add((e.args.worker as string).toLowerCase());
    for (const e of await epochs.queryFilter(epochs.filters.EpochAdvanced(), scanFrom, head))
      advancedAt.set(e.args.epoch as bigint, e.blockNumber);
    scanFrom = head + 1;
    if (o.chaos && !restarting) {
      const v = stats[victim];
      if (v.started > startedSeen) [startedSeen, startedAt2] = [v.started, Date.now()];
      if (restarts.length === 0 && v.started === 1n && Date.now() - startedAt2 > 1_500)
        await restart("in the middle of epoch 1", current);
      else if (restarts.length === 1 && v.sent.has("1"))
        await restart("just after it sent epoch 1's batches, proofs and end notices", current);
      const adv = advancedAt.get(2n);
      if (reorgs.length === 0 && reorgTries < 10 && adv !== undefined && head >= adv + 1) {
        reorgTries += 1;
        const r = await reorgChain(provider, REORG_DEPTH);
        if (r) {
          reorgs.push(r);
          say(
            `chaos: reorganised blocks ${r.fromBlock}-${r.toBlock} (depth ${r.depth} > ${CONFIRMATIONS} confirmation), ${r.txsReincluded} transactions mined again`,
          );
        }
      }
      if (!flooding && current >= 1n) {
        const target = toUtf8String(await epochs.networkAddressOf(addresses[0]));
        flooding = floodWorker(target, addresses[0], current, addresses[0], work).then((f) => {
          floods.push(f);
          say(
            `chaos: a non-member flooded worker 0: ${f.refusedAtConnect} connections refused, ${f.sent} messages sent`,
          );
        });
      }
    }
    const reorgPending = o.chaos && current === 2n && reorgs.length === 0 && reorgTries < 10;
    if (current >= 1n && current <= BigInt(n.epochCount) && fedEpoch < current && !reorgPending) {
      if (startedAt === 0) startedAt = Date.now();
      const share = current === BigInt(n.epochCount) ? transfers.slice(fed) : transfers.slice(fed, fed + perEpoch);
      // 256 deltas per append (the inbox's gas per delta is lowest there), 1,000 logs per load transaction.
      const per = loadToken ? 1_000 : 256;
      for (let i = 0; i < share.length; i += per) {
        const chunk: Transfer[] = share.slice(i, i + per);
        if (loadToken) {
          // The load generator: this many Transfer logs between the pool's accounts, drawn on-chain,
          // and (with the join) an Approval log after every APPROVE_EVERY-th.
          approvalsFed += await scatter(loadToken, provider, [
            Number(o.accounts),
            chunk.length,
            BigInt(o.seed) * 1_000_000_007n + BigInt(fed),
            approveEvery,
          ]);
        } else {
          const deltas = chunk.map((t) => ({ data: encodeTransfer(t), time: 0n, diff: 1n }));
          await (await inbox.connect(feeder).append(streamId, deltas)).wait();
        }
        fed += chunk.length;
        feedBar?.update(fed, { epoch: current.toString() });
      }
      fedEpoch = current;
      if (!bars) say(`epoch ${current}: fed ${fed}/${n.deltaCount} transfers`);
      waitingSince = Date.now();
    }
    // Time moves once every worker that is not jailed has started the current epoch and committed
    // to the next (a slow start never makes a worker miss an epoch); after 60 s it moves anyway.
    const next = await epochs.epochInfo(current + 1n);
    const feedDone = current === 0n || fedEpoch >= current || current > BigInt(n.epochCount);
    const started =
      current === 0n ||
      current > BigInt(n.epochCount) ||
      stats.every((s, i) => jailed.has(addresses[i]) || s.started >= current);
    const committed = next.frozen || next.committed >= BigInt(n.workers - jailed.size);
    if (feedDone && ((started && committed) || Date.now() - waitingSince > 60_000)) {
      await provider.request({ method: "evm_increaseTime", params: [15] });
      if (next.frozen) waitingSince = Date.now();
    }
    await provider.request({ method: "evm_mine", params: [] });
    for (let i = 0; i < keys.length; ++i)
      workerBars[i]?.update(stats[i].accepted, {
        epoch: stats[i].epoch,
        what: `${procs[i].status} · evidence ${stats[i].evidence}`,
      });
    if (!bars && Date.now() - lastStatus > 10_000) {
      lastStatus = Date.now();
      say(
        `epoch ${current}: ${procs.map((p, i) => `w${i} ${p.code === undefined ? p.status : `exited ${p.code}`}`).join(", ")}`,
      );
    }
    await sleep(200);
  }
  bars?.stop();
  await flooding;
  const endedAt = Date.now();

  // 6. The report.
  const reports: WorkerReport[] = [];
  for (let i = 0; i < keys.length; ++i) {
    try {
      reports.push(JSON.parse(readFileSync(join(work, `worker-${i}.json`), "utf8")));
    } catch {
      reports.push({
        worker: addresses[i],
        byzantine: null,
        checks: o.checks,
        startedAt: 0,
        stoppedAt: 0,
        cheats: [],
        evidence: [],
        epochs: [],
      });
    }
  }
  const slashed: Slash[] = (await epochs.queryFilter(epochs.filters.Slashed(), book.startBlock)).map((e) => ({
    worker: (e.args.worker as string).toLowerCase(),
    epoch: String(e.args.epoch),
    fault: FAULT_NAMES[Number(e.args.fault)],
    amount: String(e.args.amount),
    amountTokens: formatAmount(BigInt(e.args.amount), units),
    reporter: (e.args.reporter as string).toLowerCase(),
    txHash: e.transactionHash,
  }));
  /** The stake a worker lost in all, in base units. */
  const lostBy = (worker: string) =>
    slashed.filter((s) => s.worker === worker).reduce((s, x) => s + BigInt(x.amount), 0n);
  const byzantineWorker = cheater >= 0 ? addresses[cheater] : null;
  // Every execution dispute, judged again by `maru-worker verify-dispute` in its own process, as
  // anyone (a juror, the arbitrator, a reader of this report) would run it.
  const verified: DevnetReport["disputes"] = [];
  for (const e of await court.queryFilter(court.filters.DisputeOpened(), book.startBlock)) {
    const id = String(e.args.id);
    const r = spawnSync(
      process.execPath,
      [
        WORKER,
        "verify-dispute",
        id,
        ...["--rpc", chain.url, "--addresses", bookFile, "--gateway", gateway.url],
        ...["--cache-dir", join(work, "blobs-verify"), "--json"],
      ],
      { encoding: "utf8", timeout: 120_000 },
    );
    let judged: { side?: string; parties?: Array<{ sender: string; right: boolean }> } = {};
    try {
      judged = JSON.parse(r.stdout);
    } catch {
      say(`verify-dispute ${id} printed no JSON: ${(r.stderr || r.stdout).trim().split("\n")[0]}`);
    }
    const [dispute] = await court.disputeOf(id);
    verified.push({
      id,
      epoch: String(e.args.epoch),
      parties: [String(e.args.partyA).toLowerCase(), String(e.args.partyB).toLowerCase()],
      outcome: SIDE_NAMES[Number(dispute.outcome)],
      verifyExit: r.status,
      verifyVerdict: judged.side ?? null,
      wrong: (judged.parties ?? []).filter((x) => !x.right).map((x) => x.sender),
    });
  }
  const honest = new Set(addresses.filter((a) => a !== byzantineWorker));
  const truth = await readEpochTruth({
    provider: ethers.provider,
    book,
    fromBlock: book.startBlock,
    epochCount: n.epochCount,
    source: o.source,
    token: loadToken && (await loadToken.getAddress()),
    histogram: o.join && o.source === "chain",
  });
  // What the chain holds in the epochs' windows: the source deltas the workers had to process.
  const landedTransfers = truth.reduce((x, t) => x + t.transfers.length, 0);
  const landedApprovals = truth.reduce((x, t) => x + t.approvals.length, 0);
  if (landedTransfers !== fed) say(`note: ${fed} transfers fed, ${landedTransfers} landed in epochs 1-${n.epochCount}`);
  if (landedApprovals !== approvalsFed)
    say(`note: ${approvalsFed} approvals made, ${landedApprovals} landed in epochs 1-${n.epochCount}`);
  const joined = o.join && o.source === "chain";
  const output = checkOutput(reports, honest, truth, { activity: joined, histogram: joined });
  const disagreements = reports
    .filter((r) => honest.has(r.worker))
    .flatMap((r) =>
      r.epochs
        .filter((e) => (e.disagreementCount ?? 0) > 0)
        .map((e) => ({
          reportedBy: r.worker,
          epoch: e.epoch,
          count: e.disagreementCount,
          holders: [...new Set(e.disagreements.flatMap((d) => Object.keys(d.copies)))],
          // Holders whose copy differed from what the reporting worker computed itself.
          wrong: [
            ...new Set(
              e.disagreements.flatMap((d) =>
                d.right ? Object.keys(d.copies).filter((h) => !d.right!.includes(h)) : [],
              ),
            ),
          ],
          heldBack: e.heldBackGroups,
        })),
    );
  const lastFinish = Math.max(
    ...reports.filter((r) => honest.has(r.worker)).flatMap((r) => r.epochs.map((e) => e.finishedAt)),
  );
  const seconds = ((Number.isFinite(lastFinish) ? lastFinish : endedAt) - startedAt) / 1000;
  const cheat = reports.flatMap((r) => r.cheats)[0];
  // When the slash landed: evidence a guard submitted, or a dispute settled against the cheater.
  const slashTimes = [
    ...reports
      .flatMap((r) => r.evidence)
      .filter((e) => e.status === "slashed")
      .map((e) => e.settledAt),
    ...reports
      .flatMap((r) => r.disputes ?? [])
      .filter((d) => d.action === "settled" && d.outcome !== "draw")
      .map((d) => d.at),
  ].sort((a, b) => a - b);
  const firstSlash = slashTimes.length > 0 ? { settledAt: slashTimes[0] } : undefined;
  const withholding = reports
    .filter((r) => honest.has(r.worker))
    .flatMap((r) =>
      r.epochs.flatMap((e) =>
        e.withholding.map((w) => ({
          worker: w.worker,
          reportedBy: r.worker,
          epoch: e.epoch,
          missingGroups: w.missingGroups,
        })),
      ),
    );
  const chaos = o.chaos
    ? {
        restarts,
        reorgs,
        floods: floods.map((f) => ({
          ...f,
          refusedByWorker: reports.find((r) => r.worker === f.worker)?.transport?.refusedConnections ?? 0,
        })),
      }
    : undefined;
  const partial: Omit<DevnetReport, "expectations"> = {
    chaos: o.chaos ?? false,
    ...(chaos ?? { restarts: [], reorgs: [], floods: [] }),
    byzantine: o.byzantine ?? null,
    byzantineWorker,
    source: o.source,
    workers: n.workers,
    replication: n.k,
    checks: o.checks,
    epochs: n.epochCount,
    deltas: n.deltaCount,
    slashed,
    disputes: verified,
    withholding,
    // The source deltas the chain holds in the epochs' windows (the ones the workers had to process).
    deltasProcessed: landedTransfers + landedApprovals,
    approvalsProcessed: landedApprovals,
    deltasExchanged: reports.reduce((s, r) => s + r.epochs.reduce((x, e) => x + e.acceptedDeltas, 0), 0),
    deltasPerSec: seconds > 0 ? (fed + approvalsFed) / seconds : 0,
    seconds,
    outputCorrect: output.correct,
    outputChecked: output.checked,
    outputProblems: output.problems,
    outputIncomplete: output.incomplete,
    disagreements,
    accounts: output.accounts,
    cheatToSlashMs: cheat && firstSlash ? firstSlash.settledAt - cheat.at : null,
    perWorker: reports.map((r, i) => ({
      worker: addresses[i],
      role: i === cheater ? `cheater (${o.byzantine})` : "honest",
      exitCode: procs[i].code ?? null,
      epochs: r.epochs.length,
      sourceDeltas: r.epochs.reduce((s, e) => s + e.sourceDeltas, 0),
      sentBatches: r.epochs.reduce((s, e) => s + e.sentBatches, 0),
      sentDeltas: r.epochs.reduce((s, e) => s + e.sentDeltas, 0),
      acceptedDeltas: r.epochs.reduce((s, e) => s + e.acceptedDeltas, 0),
      rejectedBatches: r.epochs.reduce((s, e) => s + e.rejectedBatches, 0),
      verifyMs: r.epochs.reduce((s, e) => s + e.verifyMs, 0),
      evidence: r.evidence.map((e) => ({ worker: e.worker, fault: e.fault, status: e.status })),
      disputes: (r.disputes ?? []).map((d) => [d.action, d.side ?? d.outcome].filter(Boolean).join(":")),
      stakeLost: String(lostBy(addresses[i])),
      stakeLostTokens: formatAmount(lostBy(addresses[i]), units),
      maxRssMiB: r.maxRssMiB ?? null,
      maxEventLoopDelayMs: r.maxEventLoopDelayMs ?? null,
      cpuMs: r.cpuMs ?? null,
      handoffEpochs: r.epochs.filter((e) => e.handoff?.due).length,
      handoffDeltas: r.epochs.reduce((s, e) => s + (e.handoff?.sentDeltas ?? 0), 0),
      handoffMs: r.epochs.reduce((s, e) => s + (e.handoff?.ms ?? 0), 0),
      secondStageEpochs: r.epochs.filter((e) => e.secondStage?.ran).length,
      secondStageDeltas: r.epochs.reduce((s, e) => s + (e.secondStage?.sentDeltas ?? 0), 0),
      secondStageMs: r.epochs.reduce((s, e) => s + (e.secondStage?.ms ?? 0), 0),
    })),
  };
  const report: DevnetReport = { ...partial, expectations: checkExpectations(partial) };
  process.stdout.write(summaryTable(report) + "\n");
  if (o.json) writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
  if (!report.expectations.met) process.stderr.write(`\nworker logs (last lines):\n${tail(procs)}\n`);

  if (o.keepRunning) {
    say(
      `keeping the chain node (${chain.url}) and the gateway (${gateway.url}) up; addresses book ${bookFile}. Ctrl-C stops them.`,
    );
    await new Promise(() => {});
  }
  return report.expectations.met ? 0 : 1;
}

/** Gas per transfer of a load transaction, estimated once (an estimate runs the whole transaction again). */
let scatterGas: { perTransfer: bigint; blockLimit: bigint } | undefined;

/**
 * One load transaction: `count` Transfer logs (and Approvals) drawn on-chain. The receipt is read raw:
 * ethers' receipt wraps and checksums each of its thousand logs, which cost the conductor half a
 * core while the workers ran. Returns how many Approval logs it made.
 */
async function scatter(
  token: LoadToken,
  provider: { request(a: { method: string; params?: unknown[] }): Promise<unknown> },
  args: [accounts: number, count: number, seed: bigint, approveEvery: number],
): Promise<number> {
  if (scatterGas === undefined) {
    const block = (await provider.request({ method: "eth_getBlockByNumber", params: ["latest", false] })) as {
      gasLimit: string;
    };
    const estimate = await token.scatter.estimateGas(...args);
    scatterGas = { perTransfer: estimate / BigInt(args[1]) + 1n, blockLimit: BigInt(block.gasLimit) };
  }
  // Half again the first estimate per transfer: later transfers write balances already set, cheaper.
  const wanted = (scatterGas.perTransfer * BigInt(args[1]) * 3n) / 2n + 100_000n;
  const gasLimit = wanted < scatterGas.blockLimit ? wanted : scatterGas.blockLimit;
  const tx = await token.scatter(...args, { gasLimit });
  type Receipt = { status: string; logs: Array<{ topics: string[] }> };
  const read = async () =>
    (await provider.request({ method: "eth_getTransactionReceipt", params: [tx.hash] })) as Receipt | null;
  let receipt = await read();
  for (let i = 0; receipt === null; ++i) {
    await sleep(Math.min(50 * 2 ** i, 1_000));
    receipt = await read();
  }
  if (receipt.status !== "0x1")
    throw new DevnetError(
      `the load transaction ${tx.hash} (${args[1]} transfers) reverted (gas limit ${gasLimit}): a bug of the devnet, please report it`,
    );
  const approval = token.interface.getEvent("Approval").topicHash;
  return receipt.logs.filter((l) => l.topics[0] === approval).length;
}

/** Keeps a worker's last 30 log lines, for the message when a run fails. */
function keep(p: { lines: string[] }, text: string) {
  p.lines.push(...text.split("\n").filter((l) => l.length > 0));
  if (p.lines.length > 30) p.lines.splice(0, p.lines.length - 30);
}

function tail(procs: Array<{ lines: string[] }>): string {
  return procs.map((p, i) => `--- worker ${i}\n${p.lines.slice(-12).join("\n")}`).join("\n");
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    // A known failure says what happened and what to do; anything else keeps its stack for a bug report.
    const known = e instanceof DevnetError || e instanceof MaruError;
    const cause = e.cause instanceof Error ? `\n(cause: ${e.cause.message.split("\n")[0]})` : "";
    process.stderr.write(`devnet: ${known ? e.message : (e.stack ?? e.message)}${cause}\n`, () => process.exit(1));
  },
);
