// Epochs and staking (one contract) on the stake token, requesting randomness from the beacon.
// The deployer administers it until the protocol module hands every role to the timelock.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Randomness from "./Randomness.js";

export default buildModule("Epochs", (m) => {
  const { beacon } = m.useModule(Randomness);
  const epochs = m.contract("EpochManager", [
    m.getParameter<string>("token"),
    beacon,
    m.getAccount(0),
    {
      minStake: m.getParameter<bigint>("minStake"),
      unbondingPeriod: m.getParameter("unbondingPeriod", 14 * 86_400),
      rewardBps: m.getParameter("rewardBps", 1_000),
      jailEpochs: m.getParameter("jailEpochs", 24),
      epochDuration: m.getParameter("epochDuration", 3_600),
      freezeLead: m.getParameter("freezeLead", 600),
      randomnessTimeout: m.getParameter("randomnessTimeout", 1_800),
      replication: m.getParameter("replication", 3),
      minWorkers: m.getParameter("minWorkers", 4),
      maxWorkers: m.getParameter("maxWorkers", 10_000),
      fraudWindowEpochs: m.getParameter("fraudWindowEpochs", 24),
      // Misrouted delta, equivocation, batch mismatch, broken chain, invalid accumulated proof, execution.
      slashBps: m.getParameter("slashBps", [5_000, 5_000, 5_000, 5_000, 5_000, 5_000]),
    },
  ]);
  m.call(beacon, "setRequester", [epochs]);
  return { epochs, beacon };
});
