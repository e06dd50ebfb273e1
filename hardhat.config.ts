import hardhatToolboxMochaEthersPlugin from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { defineConfig } from "hardhat/config";

// solc-js (wasm) from npm instead of a download: these machines reach only the
// npm registry (../shared/TOOLCHAIN.md). Keep `version` equal to the pinned
// `solc` package version in package.json.
const SOLC_VERSION = "0.8.30";
const solcPath = new URL("./node_modules/solc/soljson.js", import.meta.url).pathname;

export default defineConfig({
  plugins: [hardhatToolboxMochaEthersPlugin],
  solidity: {
    // Chainlink's mock coordinator is built from npm so that local chains and tests can deploy it.
    npmFilesToBuild: ["@chainlink/contracts/src/v0.8/vrf/mocks/VRFCoordinatorV2_5Mock.sol"],
    profiles: {
      default: {
        version: SOLC_VERSION,
        path: solcPath,
        settings: { optimizer: { enabled: true, runs: 1_000 }, evmVersion: "prague" },
      },
      production: {
        version: SOLC_VERSION,
        path: solcPath,
        settings: { optimizer: { enabled: true, runs: 1_000 }, evmVersion: "prague" },
      },
    },
  },
  paths: {
    ignition: "deploy",
  },
  typechain: {
    outDir: "typechain-types",
  },
  test: {
    solidity: {
      fsPermissions: { readFile: ["./test/vectors"], readDirectory: ["./test/vectors"] },
      fuzz: { runs: 1_000 },
    },
    mocha: { timeout: 120_000 },
  },
  networks: {
    localhost: {
      type: "http",
      chainType: "l1",
      url: "http://127.0.0.1:8545",
    },
  },
});
