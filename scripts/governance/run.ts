// The governance commands as a `hardhat run` script, on the network hardhat selects:
//   GOV_ARGS="status --addresses deployments/31337.json" npx hardhat run --network localhost scripts/governance/run.ts
// GOV_ARGS holds the same words as `npm run gov -- …` (without --network); paths without spaces.
// The network is hardhat's --network, passed on to the CLI as its own --network: without one,
// hardhat would pick its in-process chain, where nothing is deployed, so the CLI refuses.
import hre from "hardhat";

const args = (process.env.GOV_ARGS ?? "").trim();
if (!args) {
  console.error('error: set GOV_ARGS, e.g. GOV_ARGS="status --addresses deployments/31337.json"');
  process.exit(1);
}
const words = args.split(/\s+/);
const chosen = hre.globalOptions.network;
if (chosen && words.includes("--network")) {
  const given = words[words.indexOf("--network") + 1];
  if (given !== chosen) {
    console.error(
      `error: GOV_ARGS says --network ${given}, hardhat run says --network ${chosen}.\n\nFix: give it once.`,
    );
    process.exit(1);
  }
}
process.argv = [
  process.argv[0],
  "gov",
  ...words,
  ...(chosen && !words.includes("--network") ? ["--network", chosen] : []),
];
await import("./cli.js");
