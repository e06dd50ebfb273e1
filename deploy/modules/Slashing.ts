// The fraud proofs, made the epoch manager's (first) slasher, with the execution-dispute court it
// creates (fraud.disputes()). It holds no role: the slash shares are the epoch manager's
// (Epochs.slashBps), snapshotted by each epoch; the dispute rules are fixed here. The arbitrator of
// appeals and undecided disputes is a parameter, not the timelock: it must act within the
// arbitration window, shorter than a timelock's delay (docs/contracts/execution-disputes.md).
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Epochs from "./Epochs.js";
import Registry from "./Registry.js";
import Oracle from "./Oracle.js";

export default buildModule("Slashing", (m) => {
  const { epochs } = m.useModule(Epochs);
  const { registry } = m.useModule(Registry);
  const { oracle } = m.useModule(Oracle);
  const rules = {
    jurySize: m.getParameter("jurySize", 41),
    commitEpochs: m.getParameter("commitEpochs", 2),
    revealEpochs: m.getParameter("revealEpochs", 2),
    appealEpochs: m.getParameter("appealEpochs", 4),
    arbitrationEpochs: m.getParameter("arbitrationEpochs", 12),
    openerShareBps: m.getParameter("openerShareBps", 5_000),
    jurorDeposit: m.getParameter<bigint>("jurorDeposit", 10n ** 18n),
    appealBond: m.getParameter<bigint>("appealBond", 10n * 10n ** 18n),
    arbitrator: m.getParameter<string>("arbitrator"),
  };
  const fraud = m.contract("FraudProofs", [epochs, registry, oracle, rules]);
  m.call(epochs, "setSlasher", [fraud]);
  return { fraud };
});
