// maru-worker: the reference worker node (docs/worker.md). It joins (registers its signing key and
// libp2p address, stakes), commits every epoch, verifies r, syncs the operator graph from Arweave,
// and runs the dataflow: its shards of the source stream through the operators, batches to the
// holders of each shard over libp2p, every incoming batch checked, every provable lie submitted.
// Keys never come from a flag:
//   MARU_WORKER_KEY   the staking account's private key, or --keystore FILE with
//                     MARU_KEYSTORE_PASSWORD (an encrypted JSON wallet)
//   MARU_SIGNING_KEY  the hot key that signs batch headers (a new one each start if unset)
import { readFileSync, writeFileSync } from "node:fs";
import { Command, Option } from "commander";
import JSON5 from "json5";
import { pino } from "pino";
import { JsonRpcProvider, Wallet, type HDNodeWallet } from "ethers";
import { MaruError, connectProtocol, type AddressesBook } from "../client/index.js";
import { join, runEpochs } from "./node/epochLoop.js";
import { Dataflow } from "./node/dataflow.js";
import { BYZANTINE_MODES, byzantineMode } from "./node/byzantine.js";
import { startTransport, type Transport } from "./transport/p2p.js";

const program = new Command()
  .name("maru-worker")
  .description("A Maru worker node: stakes, commits every epoch, verifies the randomness, runs the dataflow.")
  .option("--rpc <url>", "JSON-RPC URL of the chain")
  .option("--addresses <file>", "the deployment's addresses book (deployments/<chainId>.json)")
  .option("--config <file>", "a JSON/JSON5 file with any of these options (flags given here win)")
  .option("--keystore <file>", "an encrypted JSON wallet for the staking key (password in MARU_KEYSTORE_PASSWORD)")
  .option("--gateway <url>", "the Arweave gateway operator blobs are downloaded from", "https://arweave.net")
  .option("--cache-dir <dir>", "where downloaded operator blobs are cached (by hash)", ".maru/blobs")
  .option("--listen <multiaddr>", "where the libp2p node listens", "/ip4/127.0.0.1/tcp/0")
  .option("--announce <multiaddr>", "the address peers dial, registered on-chain (default: the listen address)")
  .option("--until-epoch <n>", "stop after finishing this epoch")
  .option("--poll-ms <ms>", "how often to look at the chain", "1000")
  .option("--confirmations <n>", "how deep a VRF fulfilment or a source block must be before it is used", "3")
  .option("--grace-ms <ms>", "how long to wait for other workers' batches after finishing an epoch", "20000")
  .option("--per-delta-ms <ms>", "operator time budget per delta", "10")
  .option("--no-checks", "accept batches without verifying them (only to measure what the checks cost)")
  .option("--report <file>", "write this worker's report (epochs, evidence, output) as JSON when it stops")
  .addOption(
    new Option("--byzantine <mode>", "cheat on purpose (local chains only), to show it is caught").choices([
      ...BYZANTINE_MODES,
    ]),
  )
  .option("--log-level <level>", "pino log level", "info");

type Options = {
  rpc?: string;
  addresses?: string;
  config?: string;
  keystore?: string;
  gateway: string;
  cacheDir: string;
  listen: string;
  announce?: string;
  untilEpoch?: string;
  pollMs: string;
  confirmations: string;
  graceMs: string;
  perDeltaMs: string;
  checks: boolean;
  report?: string;
  byzantine?: string;
  logLevel: string;
};

/** Options from --config, for every option not given on the command line. */
function withConfig(opts: Options): Options {
  if (!opts.config) return opts;
  let config: Record<string, unknown>;
  try {
    config = JSON5.parse(readFileSync(opts.config, "utf8"));
  } catch (e) {
    throw new MaruError(`Cannot read the config file ${opts.config}: ${(e as Error).message}`, {
      fix: "pass a JSON or JSON5 object whose keys are option names, e.g. { rpc: 'http://…', pollMs: 500 }",
    });
  }
  const known = new Set(program.options.map((o) => o.attributeName()));
  const merged = { ...opts } as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) {
    if (!known.has(key)) {
      throw new MaruError(`Unknown option "${key}" in ${opts.config}`, {
        fix: `use the camelCase name of a flag: ${[...known].join(", ")}`,
      });
    }
    if (program.getOptionValueSource(key) !== "cli") merged[key] = typeof value === "number" ? String(value) : value;
  }
  return merged as Options;
}

async function stakingKey(opts: Options): Promise<Wallet | HDNodeWallet> {
  if (opts.keystore) {
    const password = process.env.MARU_KEYSTORE_PASSWORD;
    if (password === undefined)
      throw new MaruError("MARU_KEYSTORE_PASSWORD is not set", { fix: "export the keystore's password" });
    try {
      return await Wallet.fromEncryptedJson(readFileSync(opts.keystore, "utf8"), password);
    } catch (e) {
      throw new MaruError(`Cannot open the keystore ${opts.keystore}: ${(e as Error).message}`, {
        fix: "check the file and MARU_KEYSTORE_PASSWORD",
      });
    }
  }
  const key = process.env.MARU_WORKER_KEY;
  if (!key)
    throw new MaruError("MARU_WORKER_KEY is not set", {
      fix: "export the staking account's private key as MARU_WORKER_KEY, or pass --keystore",
    });
  try {
    return new Wallet(key);
  } catch {
    throw new MaruError("MARU_WORKER_KEY is not a private key", { fix: "a 0x-prefixed 32-byte hex string" });
  }
}

async function main() {
  const opts = withConfig(program.parse().opts<Options>());
  if (!opts.rpc || !opts.addresses) {
    throw new MaruError(`${!opts.rpc ? "--rpc" : "--addresses"} is required`, {
      fix: "give it as a flag or in --config",
    });
  }
  const log = pino({ level: opts.logLevel, base: { worker: undefined } });
  const staking = await stakingKey(opts);
  let book: AddressesBook;
  try {
    book = JSON.parse(readFileSync(opts.addresses, "utf8")) as AddressesBook;
  } catch (e) {
    throw new MaruError(`Cannot read the addresses book ${opts.addresses}`, {
      cause: e,
      fix: "deploy first (npm run deploy:local), or pass the deployment's deployments/<chainId>.json",
    });
  }
  // No read cache: ethers otherwise answers identical reads from a 250 ms cache, and two
  // transactions in a row would take the same nonce.
  const provider = new JsonRpcProvider(opts.rpc, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const chainId = await Promise.race([
    provider.send("eth_chainId", []).then((x: string) => Number(x)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer in 5 s")), 5_000)),
  ]).catch((e: unknown) => {
    provider.destroy();
    throw new MaruError(`Cannot reach the chain at ${opts.rpc} (${(e as Error).message.split("\n")[0]})`, {
      fix: "check --rpc: the URL of a JSON-RPC node of the deployment's chain",
    });
  });
  if (chainId !== book.chainId) {
    throw new MaruError(`--rpc is chain ${chainId}, the addresses book is for chain ${book.chainId}`);
  }
  const byzantine = byzantineMode(opts.byzantine, chainId);
  const wallet = staking.connect(provider) as Wallet;
  const signingKey = process.env.MARU_SIGNING_KEY ? new Wallet(process.env.MARU_SIGNING_KEY) : Wallet.createRandom();
  const logger = log.child({ worker: wallet.address });
  if (byzantine) logger.warn({ mode: byzantine }, "BYZANTINE MODE: this worker will cheat once and lose stake");

  // Messages may arrive before the dataflow exists: they go to it once it does.
  const holder: { dataflow?: Dataflow } = {};
  const transport: Transport = await startTransport({
    listen: [opts.listen],
    onMessage: (m) => holder.dataflow?.onMessage(m),
    onError: (e) => logger.warn({ error: e.message }, "transport"),
  });
  const peerId = transport.node.peerId.toString();
  const networkAddress = opts.announce ? `${opts.announce}/p2p/${peerId}` : transport.addresses()[0];
  const p = connectProtocol(book, wallet);
  const dataflow = new Dataflow({
    p,
    me: wallet.address,
    signingKey: signingKey as Wallet,
    chainId,
    transport,
    log: logger,
    gateway: opts.gateway,
    cacheDir: opts.cacheDir,
    byzantine,
    checks: opts.checks,
    confirmations: Number(opts.confirmations),
    graceMs: Number(opts.graceMs),
    perDeltaMs: Number(opts.perDeltaMs),
  });
  holder.dataflow = dataflow;
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      logger.info({ signal: sig }, "shutting down");
      controller.abort();
    });
  }
  const startedAt = Date.now();
  try {
    await join(p, wallet, signingKey.address, networkAddress, logger);
    const records = await runEpochs({
      book,
      wallet,
      log: logger,
      pollMs: Number(opts.pollMs),
      untilEpoch: opts.untilEpoch === undefined ? undefined : BigInt(opts.untilEpoch),
      signal: controller.signal,
      confirmations: Number(opts.confirmations),
      dataflow,
    });
    logger.info({ epochs: records.length }, "stopped");
  } finally {
    await dataflow.stop();
    if (opts.report) {
      const report = {
        worker: wallet.address.toLowerCase(),
        byzantine: byzantine ?? null,
        checks: opts.checks,
        startedAt,
        stoppedAt: Date.now(),
        cheats: dataflow.cheats,
        evidence: dataflow.evidence,
        epochs: dataflow.reports,
      };
      writeFileSync(opts.report, JSON.stringify(report, null, 2) + "\n");
    }
    await transport.stop();
    provider.destroy();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    // One line that says what to fix, no stack trace; exit even if a provider still has timers.
    const message = e instanceof MaruError ? e.message : `${(e as Error).message}`;
    process.stderr.write(`maru-worker: ${message}\n`, () => process.exit(1));
  },
);
