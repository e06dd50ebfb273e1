// `npm run deploy:local` (chain node at 127.0.0.1:8545) or
// `npx hardhat run --network sepolia scripts/deploy/deploy.ts`: deploys the protocol with the
// Ignition modules and the network's parameter file, writes deployments/<chainId>.json, runs the
// post-deploy check and prints the addresses. Re-running finishes or confirms a deployment.
// It exits 1, with a NOT DONE summary of what is left, until no account other than the timelock
// holds power: on a chain with a timelock delay governance finishes it (npm run gov -- accept-ownership).
import { MaruError } from "../../client/errors/base.js";
import { DeployError, connectOrExplain, deployProtocol, loadParameters } from "./lib.js";
import { checkDeployment, formatReport } from "./checks.js";

async function main() {
  const conn = await connectOrExplain();
  const [deployer] = await conn.ethers.getSigners();
  const book = await deployProtocol(conn, { log: (l) => console.log(`• ${l}`) });
  console.log(`\nAddresses (deployments/${book.chainId}.json):`);
  console.table(book.contracts);
  const params = loadParameters(book.network);
  const checks = await checkDeployment(conn, book, params, deployer.address);
  const report = formatReport(checks, {
    networkName: conn.networkName,
    book,
    minDelay: BigInt(params.Governance.minDelay),
    failuresOnly: true, // npm run deploy:check prints every check
  });
  console.log("\npost-deploy check:");
  for (const line of report) console.log(line);
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

main().catch((e) => {
  // What to fix, never a stack trace (MARU_DEBUG=1 shows it, for a bug report).
  if (e instanceof DeployError || e instanceof MaruError) console.error(`deploy failed: ${e.message}`);
  else {
    console.error(`deploy failed: ${(e as Error).message ?? e}`);
    if (process.env.MARU_DEBUG) console.error(e);
    else console.error("(MARU_DEBUG=1 shows where; nothing was lost: re-running resumes from Ignition's journal)");
  }
  process.exitCode = 1;
});
