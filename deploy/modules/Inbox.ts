// The on-chain source stream (docs/protocol.md §9); appenders are allowed by the timelock.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Governance from "./Governance.js";
import Registry from "./Registry.js";

export default buildModule("Inbox", (m) => {
  const { timelock } = m.useModule(Governance);
  const { registry } = m.useModule(Registry);
  const inbox = m.contract("StreamInbox", [registry, timelock]);
  return { inbox };
});
