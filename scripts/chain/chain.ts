// npm run chain: a local chain for trying the tools by hand, without the devnet's conductor
// (docs/local.md). It starts anvil on 127.0.0.1:8545 (the `localhost` network of hardhat.config.ts)
// mining a block every second, arlocal on 127.0.0.1:1984 (the gateway the governance commands
// default to), and fulfils every request made to a Chainlink VRF mock coordinator on that chain,
// so that epochs move on their own once the protocol is deployed. Ctrl-C stops everything.
import { Command } from "commander";
import { JsonRpcProvider, Wallet } from "ethers";
import { MaruError } from "../../client/errors/base.js";
import { portFree, startAnvil, startArlocal, type ChainNode, type Gateway } from "../lib/processes.js";
import { VrfFulfiller } from "./vrf.js";
import { DEPLOYER, DEPLOYER_KEY, FULFILLER_KEY } from "./keys.js";

const program = new Command()
  .name("chain")
  .description("A local chain node and Arweave gateway, with the VRF mock fulfilled automatically.")
  .option("--port <n>", "the chain node's port (hardhat.config.ts's localhost network is 8545)", "8545")
  .option("--gateway-port <n>", "arlocal's port (the governance commands' default gateway is 1984)", "1984")
  .option("--no-gateway", "do not start arlocal")
  .option("--block-time <s>", "seconds between blocks (interval mining)", "1")
  .option(
    "--time-per-block <s>",
    "how far each block's timestamp moves (default: --block-time, real time); more makes epochs pass faster",
  )
  .option("--chain-id <n>", "the chain id (31337; 11155111 makes a Sepolia-shaped chain)", "31337")
  .option("--quiet", "print only the addresses, not each fulfilment");

type Opts = {
  port: string;
  gatewayPort: string;
  gateway: boolean;
  blockTime: string;
  timePerBlock?: string;
  chainId: string;
  quiet?: boolean;
};

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new MaruError(`${name} must be a positive integer, got "${v}"`);
  return n;
}

/** Refuses a port something else listens on: anvil would exit, and arlocal's probe would find the other process. */
async function ensureFree(port: number, what: string, flag: string): Promise<void> {
  if (!(await portFree(port))) {
    throw new MaruError(`Port ${port} is in use: cannot start ${what} there`, {
      fix: `stop what listens on it (another chain node or npm run chain?), or pass ${flag} <another port>`,
    });
  }
}

const stops: Array<() => Promise<void>> = [];
let stopping = false;
/** Stops what started (also when starting failed half-way: nothing is left holding the ports), then exits. */
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    while (stops.length > 0) await stops.pop()!().catch(() => undefined);
  }
  process.exit(code);
}

async function main() {
  const o = program.parse().opts<Opts>();
  const port = positive("--port", o.port);
  const gatewayPort = positive("--gateway-port", o.gatewayPort);
  const blockTime = positive("--block-time", o.blockTime);
  const timePerBlock = positive("--time-per-block", o.timePerBlock ?? o.blockTime);
  const chainId = positive("--chain-id", o.chainId);
  await ensureFree(port, "the chain node", "--port");
  if (o.gateway) await ensureFree(gatewayPort, "the gateway", "--gateway-port");

  for (const sig of ["SIGINT", "SIGTERM"] as const)
    process.on(sig, () => {
      console.log("stopping the chain node and the gateway");
      void stop(0);
    });

  const node: ChainNode = await startAnvil(["--block-time", String(blockTime), "--chain-id", String(chainId)], port);
  stops.push(() => node.stop());
  // A node that dies on its own (killed, out of memory) ends this too: nothing would move any more.
  void node.exited.then((code) => {
    if (stopping) return;
    console.error(`chain: the chain node exited (code ${code}); stopping`);
    void stop(1);
  });
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  stops.push(async () => provider.destroy());
  if (timePerBlock !== blockTime) await provider.send("anvil_setBlockTimestampInterval", [timePerBlock]);
  let gateway: Gateway | undefined;
  if (o.gateway) {
    gateway = await startArlocal(gatewayPort);
    stops.push(() => gateway!.stop());
    void gateway.exited.then((code) => {
      if (stopping) return;
      console.error(`chain: the gateway exited (code ${code}); stopping`);
      void stop(1);
    });
  }

  const fulfiller = new VrfFulfiller(provider, new Wallet(FULFILLER_KEY, provider), (line) => {
    if (!o.quiet) console.log(line);
  });
  stops.push(() => fulfiller.stop());

  console.log(
    [
      `chain node   ${node.url}  (anvil, chain id ${chainId}, a block every ${blockTime} s, ${timePerBlock} s of chain time per block)`,
      gateway ? `gateway      ${gateway.url}  (arlocal)` : "gateway      not started (--no-gateway)",
      "VRF          every request to a VRF mock coordinator on this chain is fulfilled once as deep as it asks (3 blocks for the local deployment)",
      `deployer     ${DEPLOYER}  (the node's first account; key ${DEPLOYER_KEY}, public test key)`,
      "",
      "next, in another terminal (docs/local.md):",
      "  npm run deploy:local",
      "  npm run faucet -- <address> 1000      # test stake and gas for a worker account",
      "Ctrl-C stops the chain node and the gateway (their state is gone: a new start is a new chain).",
    ].join("\n"),
  );
  fulfiller.start();
}

main().catch((e: unknown) => {
  const message = e instanceof MaruError ? e.message : (e as Error).message;
  console.error(`chain: ${message}`);
  void stop(1);
});
