// The governance commands as a `hardhat run` script, on the network hardhat selects:
//   GOV_ARGS="status --addresses deployments/31337.json" npx hardhat run --network localhost scripts/governance/run.ts
// GOV_ARGS holds the same words as `npm run gov -- …` (without --network); paths without spaces.
const args = (process.env.GOV_ARGS ?? "").trim();
if (!args) {
  console.error('error: set GOV_ARGS, e.g. GOV_ARGS="status --addresses deployments/31337.json"');
  process.exit(1);
}
process.argv = [process.argv[0], "gov", ...args.split(/\s+/)];
await import("./cli.js");
