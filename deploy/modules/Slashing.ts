// The fraud proofs, made the epoch manager's (first) slasher. It holds no role: the slash shares
// are the epoch manager's (Epochs.slashBps), snapshotted by each epoch.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Epochs from "./Epochs.js";
import Registry from "./Registry.js";
import Oracle from "./Oracle.js";

export default buildModule("Slashing", (m) => {
  const { epochs } = m.useModule(Epochs);
  const { registry } = m.useModule(Registry);
  const { oracle } = m.useModule(Oracle);
  const fraud = m.contract("FraudProofs", [epochs, registry, oracle]);
  m.call(epochs, "setSlasher", [fraud]);
  return { fraud };
});
