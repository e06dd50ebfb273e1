// The operator registry, governed by the timelock from the start (it has no deployer role).
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Governance from "./Governance.js";

export default buildModule("Registry", (m) => {
  const { timelock } = m.useModule(Governance);
  const registry = m.contract("OperatorRegistry", [timelock]);
  return { registry };
});
