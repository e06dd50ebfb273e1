import hardhatToolboxMochaEthersPlugin from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { configVariable, defineConfig } from "hardhat/config";
import branchCoverage from "./scripts/coverage/plugin.js";

// solc-js (wasm) from npm instead of a download: these machines reach only the
// npm registry (docs/development.md). Keep `version` equal to the pinned
// `solc` package version in package.json.
const SOLC_VERSION = "0.8.30";
const solcPath = new URL("./node_modules/solc/soljson.js", import.meta.url).pathname;
// Chainlink's real VRF v2.5 coordinator pins 0.8.19; it is compiled only for the gas benchmark.
const solc0819 = {
  version: "0.8.19",
  path: new URL("./node_modules/solc-0.8.19/soljson.js", import.meta.url).pathname,
  settings: { optimizer: { enabled: true, runs: 500 } },
};

// `--coverage` builds instrumented contracts; they go to coverage/ so that the artifacts others read
// (`--no-compile` test runs, the gas benchmark) are never the instrumented ones. docs/development.md.
const COVERAGE = process.argv.includes("--coverage") || process.env.HARDHAT_COVERAGE === "true";

export default defineConfig({
  // branchCoverage: with --coverage, the arms taken at each branch point (scripts/coverage/).
  plugins: [hardhatToolboxMochaEthersPlugin, branchCoverage],
  solidity: {
    // Built from npm: Chainlink's mock coordinator (local chains and tests fulfil through it) and the
    // real v2.5 coordinator (the gas benchmark measures freeze against the request production pays).
    npmFilesToBuild: [
      "@chainlink/contracts/src/v0.8/vrf/mocks/VRFCoordinatorV2_5Mock.sol",
      "@chainlink/contracts/src/v0.8/vrf/dev/VRFCoordinatorV2_5.sol",
      // The timelock that holds every governed role.
      "@openzeppelin/contracts/governance/TimelockController.sol",
    ],
    profiles: {
      default: {
        compilers: [
          {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, evmVersion: "prague" },
          },
          solc0819,
        ],
        // The epoch manager (with staking) is the largest contract: the IR pipeline keeps it under
        // the 24,576-byte limit (EIP-170) and its hot paths within their gas budgets.
        overrides: {
          "contracts/epochs/EpochManager.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, viaIR: true, evmVersion: "prague" },
          },
          // The fraud proofs create the execution-dispute court: the IR pipeline keeps the court's
          // transactions within their gas budgets (docs/PERFORMANCE.md), and its stack in bounds
          // when coverage instruments it.
          "contracts/slashing/FraudProofs.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, viaIR: true, evmVersion: "prague" },
          },
          "contracts/slashing/ExecutionDisputes.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, viaIR: true, evmVersion: "prague" },
          },
        },
      },
      production: {
        compilers: [
          {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, evmVersion: "prague" },
          },
          solc0819,
        ],
        overrides: {
          "contracts/epochs/EpochManager.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, viaIR: true, evmVersion: "prague" },
          },
          // The fraud proofs create the execution-dispute court: the IR pipeline keeps the court's
          // transactions within their gas budgets (docs/PERFORMANCE.md), and its stack in bounds
          // when coverage instruments it.
          "contracts/slashing/FraudProofs.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, viaIR: true, evmVersion: "prague" },
          },
          "contracts/slashing/ExecutionDisputes.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { optimizer: { enabled: true, runs: 1_000 }, viaIR: true, evmVersion: "prague" },
          },
        },
      },
    },
  },
  paths: {
    ignition: "deploy",
    artifacts: COVERAGE ? "coverage/artifacts" : "artifacts",
    cache: COVERAGE ? "coverage/cache" : "cache",
  },
  typechain: {
    outDir: "typechain-types",
  },
  test: {
    solidity: {
      fsPermissions: { readFile: ["./test/vectors"], readDirectory: ["./test/vectors"] },
      fuzz: { runs: 256 },
      // Each invariant_* gets its own campaign: runs × depth handler calls.
      invariant: { runs: 64, depth: 32, failOnRevert: false },
    },
    mocha: { timeout: 120_000 },
  },
  // RPC URLs and keys only through configuration variables: set them with
  // `npx hardhat keystore set SEPOLIA_RPC_URL` (encrypted on disk) or as environment variables.
  // Nothing is read until a command uses that network. docs/deploy.md. No Arbitrum network: the
  // protocol needs the chain's own block numbers and hashes (docs/deploy.md#arbitrum).
  networks: {
    localhost: {
      type: "http",
      chainType: "l1",
      url: "http://127.0.0.1:8545",
    },
    sepolia: {
      type: "http",
      chainType: "l1",
      chainId: 11_155_111,
      url: configVariable("SEPOLIA_RPC_URL"),
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
    baseSepolia: {
      type: "http",
      chainType: "op",
      chainId: 84_532,
      url: configVariable("BASE_SEPOLIA_RPC_URL"),
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
  },
  // Contract verification (hardhat-verify, in the toolbox): one Etherscan v2 key serves both
  // testnets; Sourcify and Blockscout need none.
  verify: {
    etherscan: {
      apiKey: configVariable("ETHERSCAN_API_KEY"),
    },
  },
});
