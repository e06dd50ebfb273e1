// The fraud proofs, made the epoch manager's slasher. Slash shares per fault (basis points of the
// committed stake): misrouted delta, equivocation, batch mismatch, broken chain, invalid
// accumulated proof.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Governance from "./Governance.js";
import Epochs from "./Epochs.js";
import Registry from "./Registry.js";
import Oracle from "./Oracle.js";

export default buildModule("Slashing", (m) => {
  const { timelock } = m.useModule(Governance);
  const { epochs } = m.useModule(Epochs);
  const { registry } = m.useModule(Registry);
  const { oracle } = m.useModule(Oracle);
  const fraud = m.contract("FraudProofs", [
    epochs,
    registry,
    oracle,
    timelock,
    m.getParameter("slashBps", [5_000, 5_000, 5_000, 5_000, 5_000]),
  ]);
  m.call(epochs, "setSlasher", [fraud]);
  return { fraud };
});
