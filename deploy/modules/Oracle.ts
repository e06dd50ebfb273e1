// The block-hash oracle; foreign-chain anchors are set by the timelock.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Governance from "./Governance.js";

export default buildModule("Oracle", (m) => {
  const { timelock } = m.useModule(Governance);
  const oracle = m.contract("BlockHashOracle", [timelock]);
  return { oracle };
});
