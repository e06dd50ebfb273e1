// The timelock that ends up holding every governed role (OpenZeppelin TimelockController).
// Proposers: the governance members (a multisig or a Governor); executors: anyone after the delay
// (zero address) unless given; no admin: the timelock administers itself.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

const ANYONE = "0x0000000000000000000000000000000000000000";

export default buildModule("Governance", (m) => {
  const timelock = m.contract("TimelockController", [
    m.getParameter("minDelay", 86_400),
    m.getParameter<string[]>("proposers"),
    m.getParameter<string[]>("executors", [ANYONE]),
    ANYONE,
  ]);
  return { timelock };
});
