// `npm run deploy:check` (local) or `npx hardhat run --network sepolia scripts/deploy/check.ts`:
// reads a deployment back (deployments/<chainId>.json) and verifies parameters, roles and wiring,
// and that no account other than the timelock holds power (NOT DONE and what to run if one does).
// Exits 1 on any failed check.
import { MaruError } from "../../client/errors/base.js";
import { DeployError, connectOrExplain, readBook, loadParameters } from "./lib.js";
import { checkDeployment, formatReport } from "./checks.js";

async function main() {
  const conn = await connectOrExplain();
  const chainId = Number((await conn.ethers.provider.getNetwork()).chainId);
  const book = readBook(chainId);
  const [deployer] = await conn.ethers.getSigners();
  const params = loadParameters(book.network);
  const checks = await checkDeployment(conn, book, params, deployer.address);
  const minDelay = BigInt(params.Governance.minDelay);
  for (const line of formatReport(checks, { networkName: conn.networkName, book, minDelay })) console.log(line);
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

main().catch((e) => {
  if (e instanceof DeployError || e instanceof MaruError) console.error(`check failed: ${e.message}`);
  else console.error(e);
  process.exitCode = 1;
});
