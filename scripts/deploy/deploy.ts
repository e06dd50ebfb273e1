// `npm run deploy:local` (chain node at 127.0.0.1:8545) or
// `npx hardhat run --network sepolia scripts/deploy/deploy.ts`: deploys the protocol with the
// Ignition modules and the network's parameter file, writes deployments/<chainId>.json, runs the
// post-deploy check and prints the addresses. Re-running finishes or confirms a deployment.
import { DeployError, connectOrExplain, deployProtocol, loadParameters } from "./lib.js";
import { checkDeployment } from "./checks.js";

async function main() {
  const conn = await connectOrExplain();
  const [deployer] = await conn.ethers.getSigners();
  const balance = await conn.ethers.provider.getBalance(deployer.address);
  if (balance === 0n) {
    throw new DeployError(`The deployer ${deployer.address} has no funds on this chain`, "fund it, then run again");
  }
  const book = await deployProtocol(conn, { log: (l) => console.log(`• ${l}`) });
  console.log(`\nAddresses (deployments/${book.chainId}.json):`);
  console.table(book.contracts);
  const checks = await checkDeployment(conn, book, loadParameters(book.network), deployer.address);
  const failed = checks.filter((c) => !c.ok);
  console.log(`post-deploy check: ${checks.length - failed.length}/${checks.length} passed`);
  for (const c of failed) console.log(`  ✗ ${c.what}: ${c.detail}`);
  if (failed.length) process.exitCode = 1;
}

main().catch((e) => {
  if (e instanceof DeployError) console.error(`deploy failed: ${e.message}`);
  else console.error(e);
  process.exitCode = 1;
});
