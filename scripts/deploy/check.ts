// `npm run deploy:check` (local) or `npx hardhat run --network sepolia scripts/deploy/check.ts`:
// reads a deployment back (deployments/<chainId>.json) and verifies parameters, roles and wiring.
// Exits 1 on any mismatch.
import { DeployError, connectOrExplain, readBook, loadParameters } from "./lib.js";
import { checkDeployment } from "./checks.js";

async function main() {
  const conn = await connectOrExplain();
  const chainId = Number((await conn.ethers.provider.getNetwork()).chainId);
  const book = readBook(chainId);
  const [deployer] = await conn.ethers.getSigners();
  const checks = await checkDeployment(conn, book, loadParameters(book.network), deployer.address);
  for (const c of checks) console.log(`${c.ok ? "✓" : "✗"} ${c.what}${c.detail ? `: ${c.detail}` : ""}`);
  const failed = checks.filter((c) => !c.ok).length;
  console.log(`\n${checks.length - failed} passed, ${failed} failed`);
  if (failed) process.exitCode = 1;
}

main().catch((e) => {
  if (e instanceof DeployError) console.error(`check failed: ${e.message}`);
  else console.error(e);
  process.exitCode = 1;
});
