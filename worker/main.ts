// maru-worker: the reference worker node (docs/worker.md). It joins (registers its signing key and
// libp2p address, stakes), commits every epoch, verifies r, syncs the operator graph from Arweave,
// and runs the dataflow: its shards of the source streams through the operators, batches to the
// holders of each shard over libp2p, every incoming batch checked, every provable lie submitted.
// Its data directory (--data-dir) keeps the slashing-protection record and the libp2p identity:
// keep it across restarts, back it up, and never share it between two running workers.
// Keys never come from a flag:
//   MARU_WORKER_KEY   the staking account's private key, or --keystore FILE with
//                     MARU_KEYSTORE_PASSWORD (an encrypted JSON wallet)
//   MARU_SIGNING_KEY  the hot key that signs batch headers (a new one each start if unset)
import { PerformanceObserver, monitorEventLoopDelay } from "node:perf_hooks";
import { writeFileSync } from "node:fs";
import { join as joinPath } from "node:path";
import { Command, Option } from "commander";
import { pino } from "pino";
import { Wallet, toUtf8String } from "ethers";
import { MaruError, connectCourt, connectProtocol, protocolDomain } from "../client/index.js";
import { Jury } from "./disputes/jury.js";
import {
  capHeapGrowth,
  connectChain,
  milliseconds,
  missingWorkerEnv,
  oneLine,
  readBook,
  requireChainOptions,
  stakingKey,
  withConfig,
} from "./node/setup.js";
import { join, runEpochs } from "./node/epochLoop.js";
import { Dataflow, RETAINED_EPOCHS } from "./engine/dataflow.js";
import { Outbox } from "./exchange/outbox.js";
import { protectedSigner } from "./exchange/signer.js";
import { BYZANTINE_MODES, byzantineMode } from "./adversary/modes.js";
import { byzantineOutbox, type Liar } from "./adversary/byzantine.js";
import { ProtectionRecord } from "./protection/record.js";
import { protectionCommand } from "./protection/cli.js";
import { OPS_COMMANDS, opsCommand } from "./ops/cli.js";
import { checkFinality, parseFinality } from "./chain/finality.js";
import { Membership } from "./chain/members.js";
import { loadPeerKey, startTransport, type Transport } from "./transport/p2p.js";
import { PrometheusMetrics, noMetrics, type WorkerMetrics } from "./metrics/metrics.js";
import { startMetricsServer } from "./metrics/server.js";

const program = new Command()
  .name("maru-worker")
  .description("A Maru worker node: stakes, commits every epoch, verifies the randomness, runs the dataflow.")
  .option("--rpc <url>", "JSON-RPC URL of the chain")
  .option("--addresses <file>", "the deployment's addresses book (deployments/<chainId>.json)")
  .option("--config <file>", "a JSON/JSON5 file with any of these options (flags given here win)")
  .option("--keystore <file>", "an encrypted JSON wallet for the staking key (password in MARU_KEYSTORE_PASSWORD)")
  .option("--gateway <url>", "the Arweave gateway operator blobs are downloaded from", "https://arweave.net")
  .option("--cache-dir <dir>", "where downloaded operator blobs are cached (by hash)", ".maru/blobs")
  .option(
    "--data-dir <dir>",
    "the slashing-protection record and the libp2p identity (keep it across restarts)",
    ".maru/worker",
  )
  .option("--listen <multiaddr>", "where the libp2p node listens", "/ip4/127.0.0.1/tcp/0")
  .option("--announce <multiaddr>", "the address peers dial, registered on-chain (default: the listen address)")
  .option("--until-epoch <n>", "stop after finishing this epoch")
  .option("--poll-ms <ms>", "how often to look at the chain", "1000")
  .option("--confirmations <n>", "how deep a VRF fulfilment must be before its randomness is used", "3")
  .option("--finality <finalized|n>", "final blocks: the chain's finalized tag, or a depth in blocks", "finalized")
  .option("--grace-ms <ms>", "how long to wait for other workers' batches after finishing an epoch", "20000")
  .option("--per-delta-ms <ms>", "operator time budget per delta", "10")
  .option(
    "--heap-growth <percent>",
    "how far the JS heap may grow past what survived V8's last full collection (0: V8's own policy)",
    "40",
  )
  .option("--no-checks", "accept batches without verifying them (only to measure what the checks cost)")
  .option("--report <file>", "write this worker's report (epochs, evidence, output) as JSON when it stops")
  .addOption(
    new Option("--byzantine <mode>", "cheat on purpose (local chains only), to show it is caught").choices([
      ...BYZANTINE_MODES,
    ]),
  )
  .option(
    "--metrics-port <port>",
    "serve Prometheus /metrics, /healthz and /readyz on this port (off unless given; 9464 is the usual one)",
  )
  .option("--metrics-host <host>", "the address the metrics server binds", "127.0.0.1")
  .option("--log-level <level>", "pino log level", "info");

type Options = {
  rpc?: string;
  addresses?: string;
  config?: string;
  keystore?: string;
  gateway: string;
  cacheDir: string;
  dataDir: string;
  finality: string;
  listen: string;
  announce?: string;
  untilEpoch?: string;
  pollMs: string;
  confirmations: string;
  graceMs: string;
  perDeltaMs: string;
  heapGrowth: string;
  checks: boolean;
  report?: string;
  byzantine?: string;
  metricsPort?: string;
  metricsHost: string;
  logLevel: string;
};

async function main() {
  if (process.argv[2] === "protection") {
    await protectionCommand().parseAsync(process.argv.slice(1), { from: "node" });
    return;
  }
  if (OPS_COMMANDS.has(process.argv[2])) {
    await opsCommand().parseAsync(process.argv, { from: "node" });
    return;
  }
  const opts = withConfig(program, program.parse().opts<Options>());
  const chain = requireChainOptions(opts);
  const finality = parseFinality(opts.finality);
  capHeapGrowth(opts.heapGrowth);
  const pollMs = milliseconds("--poll-ms", opts.pollMs);
  const graceMs = milliseconds("--grace-ms", opts.graceMs);
  const perDeltaMs = milliseconds("--per-delta-ms", opts.perDeltaMs);
  const log = pino({ level: opts.logLevel, base: { worker: undefined } });
  const staking = await stakingKey(opts.keystore);
  const book = readBook(chain.addresses);
  // Transactions are awaited at the worker's own pace (ethers would look every 4 s).
  const { provider, chainId } = await connectChain(chain.rpc, book, chain.addresses, pollMs);
  const cleanups: Array<() => Promise<void> | void> = [() => provider.destroy()];
  const cleanup = async () => {
    while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
  };
  try {
    await checkFinality(provider, finality);
    const byzantine = byzantineMode(opts.byzantine, chainId);
    const wallet = staking.connect(provider) as Wallet;
    const signingKey = process.env.MARU_SIGNING_KEY ? new Wallet(process.env.MARU_SIGNING_KEY) : Wallet.createRandom();
    const logger = log.child({ worker: wallet.address });
    if (byzantine) logger.warn({ mode: byzantine }, "BYZANTINE MODE: this worker will cheat once and lose stake");
    const missing = missingWorkerEnv();
    if (missing.length > 0)
      logger.info(
        { missing, fix: `start it with ${missing.join(" ")} in the environment (npm run worker does)` },
        "started without the environment a worker is tuned for: its peak memory is higher",
      );
    const me = wallet.address.toLowerCase();
    let metrics: WorkerMetrics = noMetrics;
    let prometheus: PrometheusMetrics | undefined;
    if (opts.metricsPort !== undefined) {
      const port = Number(opts.metricsPort);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new MaruError(`--metrics-port ${opts.metricsPort} is not a port`, {
          fix: "a number from 1 to 65535, e.g. 9464",
        });
      metrics = prometheus = new PrometheusMetrics({ pollMs });
      prometheus.watchRpc(provider); // every answer the worker gets from the chain, whatever asked
      const server = await startMetricsServer({ port, host: opts.metricsHost, metrics: prometheus });
      cleanups.push(() => server.close());
      logger.info({ url: `http://${server.host}:${server.port}/metrics` }, "metrics served");
    }
    const domain = protocolDomain(chainId, book.contracts.fraudProofs);

    // The protection record first: nothing is signed before it is open and locked.
    const record = ProtectionRecord.open(joinPath(opts.dataDir, "protection"), {
      signingKey: signingKey.address,
      chainId,
      verifyingContract: book.contracts.fraudProofs,
    });
    cleanups.push(() => record.close());
    if (record.staleLockTakenOver)
      logger.warn({ lock: record.staleLockTakenOver }, "took over the lock of a process that is gone");
    const p = connectProtocol(book, wallet);
    const currentAtStart = await p.epochs.currentEpoch();

    const court = await connectCourt(p);
    const jury = new Jury({
      p,
      court,
      wallet,
      log: logger,
      gateway: opts.gateway,
      cacheDir: opts.cacheDir,
      perDeltaMs,
    });
    const membership = new Membership(p, logger);
    const liar: Liar | undefined = byzantine
      ? { mode: byzantine, key: signingKey as Wallet, domain, cheated: false, cheats: [] }
      : undefined;
    // The dataflow exists before the transport listens, so no early message is turned away.
    const link: { transport?: Transport } = {};
    const dataflow = new Dataflow({
      p,
      me,
      chainId,
      signer: protectedSigner(signingKey as Wallet, domain, record),
      record,
      currentAtStart,
      membership,
      send: (to, m) => link.transport?.send(to, m),
      outbox: liar ? byzantineOutbox(liar) : (o) => new Outbox(o),
      log: logger,
      gateway: opts.gateway,
      cacheDir: opts.cacheDir,
      stateDir: joinPath(opts.dataDir, "state"),
      checks: opts.checks,
      finality,
      graceMs,
      perDeltaMs,
      metrics,
      court,
    });
    dataflow.follow(currentAtStart);
    await membership.refresh(currentAtStart, true);
    const transport: Transport = await startTransport({
      listen: [opts.listen],
      privateKey: await loadPeerKey(joinPath(opts.dataDir, "peer.key")),
      hooks: {
        memberOf: (peer) => membership.memberOf(peer),
        refreshMembers: () => membership.refresh(membership.epoch, true),
        onMessage: (bytes, member) => dataflow.onWire(bytes, member),
        addressOf: (member) => membership.addressOf(member),
        log: (level, fields, msg) => logger[level](fields, msg),
      },
    });
    link.transport = transport;
    prometheus?.watchTransport(
      () => new Set(transport.node.getConnections().map((c) => c.remotePeer.toString())).size,
      () => transport.stats,
    );
    cleanups.push(() => transport.stop());
    const peerId = transport.node.peerId.toString();
    const networkAddress = opts.announce ? `${opts.announce}/p2p/${peerId}` : transport.addresses()[0];

    // Doppelganger check: is this worker already running somewhere else (another machine)?
    const registered = (await p.epochs.stakeOf(wallet.address)).registered
      ? toUtf8String(await p.epochs.networkAddressOf(wallet.address))
      : "";
    if (registered && registered !== networkAddress && (await transport.answers(registered))) {
      throw new MaruError(`Another process answers at this worker's registered address ${registered}`, {
        fix: "two processes signing for one worker would be slashed for equivocation: stop the other one (or, if that address now belongs to something else, wait until it stops answering)",
      });
    }

    // SIGINT/SIGTERM, once or more (a terminal's Ctrl-C reaches npm and this process alike):
    // the first stops the loop, later ones only say so; if stopping hangs, the report is written
    // and the process exits after 20 s.
    const controller = new AbortController();
    const startedAt = Date.now();
    // The longest the main thread kept its event loop waiting: what timers, pings and peers felt.
    const loopDelay = monitorEventLoopDelay({ resolution: 20 });
    loopDelay.enable();
    // The longest garbage-collection pause, and their total: the part of the delay that is V8's.
    const gc = { maxMs: 0, totalMs: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.maxMs = Math.max(gc.maxMs, e.duration);
        gc.totalMs += e.duration;
      }
    });
    gcObserver.observe({ entryTypes: ["gc"] });
    let reported = false;
    const writeReport = () => {
      if (reported || !opts.report) return;
      reported = true;
      const cpu = process.cpuUsage();
      const report = {
        worker: me,
        byzantine: byzantine ?? null,
        checks: opts.checks,
        startedAt,
        stoppedAt: Date.now(),
        // The process's peak resident memory (its operator threads included), in MiB.
        maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
        // The longest event-loop delay seen, in ms (a busy main thread: verifying, GC, batching).
        maxEventLoopDelayMs: Math.round(loopDelay.max / 1e6),
        maxGcPauseMs: Math.round(gc.maxMs),
        gcMs: Math.round(gc.totalMs),
        // CPU time of the whole process (its operator threads included), user and system, in ms.
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        transport: transport.stats,
        cheats: liar?.cheats ?? [],
        evidence: dataflow.desk.records,
        disputes: [...(dataflow.opener?.records ?? []), ...jury.records].sort((x, y) => x.at - y.at),
        epochs: dataflow.reports,
      };
      writeFileSync(opts.report, JSON.stringify(report, null, 2) + "\n");
    };
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.on(sig, () => {
        if (controller.signal.aborted) {
          logger.info({ signal: sig }, "already stopping");
          return;
        }
        logger.info({ signal: sig }, "shutting down");
        controller.abort();
        setTimeout(() => {
          logger.warn("stopping took more than 20 s: writing the report and exiting");
          writeReport();
          process.exit(1);
        }, 20_000).unref();
      });
    }
    try {
      await join(p, wallet, signingKey.address, networkAddress, logger);
      // Epochs begun before a restart are taken up again as far back as peers keep what they sent.
      const begun = record.epochs().filter((e) => e >= currentAtStart - BigInt(RETAINED_EPOCHS));
      const records = await runEpochs({
        book,
        wallet,
        log: logger,
        pollMs,
        untilEpoch: opts.untilEpoch === undefined ? undefined : BigInt(opts.untilEpoch),
        signal: controller.signal,
        confirmations: Number(opts.confirmations),
        dataflow,
        resumeFrom: begun[0],
        metrics,
        jury,
      });
      logger.info({ epochs: records.length }, "stopped");
    } finally {
      await dataflow.stop();
      writeReport();
    }
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(typeof process.exitCode === "number" ? process.exitCode : 0),
  (e) => {
    // One line that says what to fix, no stack trace; exit even if a provider still has timers.
    process.stderr.write(`maru-worker: ${oneLine(e)}\n`, () => process.exit(1));
  },
);
