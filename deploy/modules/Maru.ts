// The whole protocol: every subsystem, wired, then handed to the timelock. After this module the
// deployer holds no role: the epoch manager's admin and governance roles are the timelock's, and
// the beacon's ownership is offered to it (two-step: the timelock accepts it with a timelock
// operation, `npm run gov -- accept-ownership`; until then the deployer still owns the beacon and
// the deploy check says NOT DONE, see docs/deploy.md). The VRF subscription is not an Ignition
// future: scripts/deploy/lib.ts offers it when the deployer owns it. Parameters:
// deploy/parameters/<network>.json5.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import Governance from "./Governance.js";
import Epochs from "./Epochs.js";
import Registry from "./Registry.js";
import Oracle from "./Oracle.js";
import Slashing from "./Slashing.js";
import Inbox from "./Inbox.js";

export default buildModule("Maru", (m) => {
  const { timelock } = m.useModule(Governance);
  const { epochs, beacon } = m.useModule(Epochs);
  const { registry } = m.useModule(Registry);
  const { oracle } = m.useModule(Oracle);
  const { fraud } = m.useModule(Slashing);
  const { inbox } = m.useModule(Inbox);
  const deployer = m.getAccount(0);

  // Freeze reads the operator graph from the registry.
  const graph = m.call(epochs, "setGraphSource", [registry]);

  // Hand over: the timelock gets both roles, then the deployer renounces them.
  const admin = m.staticCall(epochs, "DEFAULT_ADMIN_ROLE", [], 0, { id: "adminRole" });
  const governance = m.staticCall(epochs, "GOVERNANCE_ROLE", [], 0, { id: "governanceRole" });
  const grantAdmin = m.call(epochs, "grantRole", [admin, timelock], { id: "grantAdminToTimelock", after: [graph] });
  const grantGov = m.call(epochs, "grantRole", [governance, timelock], {
    id: "grantGovernanceToTimelock",
    after: [graph],
  });
  const renounceGov = m.call(epochs, "renounceRole", [governance, deployer], {
    id: "renounceGovernance",
    // After everything the deployer configures with its roles (the slasher, the graph source).
    after: [grantAdmin, grantGov, Slashing, graph],
  });
  m.call(epochs, "renounceRole", [admin, deployer], { id: "renounceAdmin", after: [renounceGov] });
  m.call(beacon, "transferOwnership", [timelock], { id: "offerBeaconToTimelock" });

  return { timelock, epochs, beacon, registry, oracle, fraud, inbox };
});
