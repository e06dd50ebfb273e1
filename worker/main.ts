// maru-worker: a reference worker node (issue 7, in progress: joins, follows epochs, verifies r;
// the dataflow is not built yet). Keys come from the environment, never from a flag:
//   MARU_WORKER_KEY   the staking account's private key
//   MARU_SIGNING_KEY  the hot key that signs batch headers (defaults to a new one each start)
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { pino } from "pino";
import { JsonRpcProvider, Wallet } from "ethers";
import { MaruError, connectProtocol, type AddressesBook } from "../client/index.js";
import { join, runEpochs } from "./node/epochLoop.js";

const program = new Command()
  .name("maru-worker")
  .description("A Maru worker node: stakes, commits every epoch, verifies the randomness.")
  .requiredOption("--rpc <url>", "JSON-RPC URL of the chain")
  .requiredOption("--addresses <file>", "the deployment's addresses book (deployments/<chainId>.json)")
  .option("--network-address <multiaddr>", "the address peers dial, registered on-chain", "/ip4/127.0.0.1/tcp/9000")
  .option("--until-epoch <n>", "stop after taking part in this epoch")
  .option("--poll-ms <ms>", "how often to look at the chain", "1000")
  .option("--confirmations <n>", "how deep a VRF fulfilment must be before r is trusted", "3")
  .option("--log-level <level>", "pino log level", "info");

async function main() {
  const opts = program.parse().opts();
  const log = pino({ level: opts.logLevel, base: { worker: undefined } });
  const key = process.env.MARU_WORKER_KEY;
  if (!key)
    throw new MaruError("MARU_WORKER_KEY is not set", {
      fix: "export the staking account's private key as MARU_WORKER_KEY",
    });
  let book: AddressesBook;
  try {
    book = JSON.parse(readFileSync(opts.addresses, "utf8")) as AddressesBook;
  } catch (e) {
    throw new MaruError(`Cannot read the addresses book ${opts.addresses}`, {
      cause: e,
      fix: "deploy first (npm run deploy:local)",
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
  const wallet = new Wallet(key, provider);
  const signingKey = process.env.MARU_SIGNING_KEY ? new Wallet(process.env.MARU_SIGNING_KEY) : Wallet.createRandom();
  const logger = log.child({ worker: wallet.address });
  await join(connectProtocol(book, wallet), wallet, signingKey.address, opts.networkAddress, logger);
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      logger.info({ signal: sig }, "shutting down");
      controller.abort();
    });
  }
  const records = await runEpochs({
    book,
    wallet,
    log: logger,
    pollMs: Number(opts.pollMs),
    untilEpoch: opts.untilEpoch === undefined ? undefined : BigInt(opts.untilEpoch),
    signal: controller.signal,
    confirmations: Number(opts.confirmations),
  });
  logger.info({ epochs: records.length }, "stopped");
  provider.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    // One line that says what to fix, no stack trace; exit even if a provider still has timers.
    const message = e instanceof MaruError ? e.message : `${(e as Error).message}`;
    process.stderr.write(`maru-worker: ${message}\n`, () => process.exit(1));
  },
);
