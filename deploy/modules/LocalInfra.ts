// Local chains only: a mintable stake token and Chainlink's VRF v2.5 mock coordinator with a funded
// subscription (the real VRF network is not reachable from a local chain). Production never uses it.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

export default buildModule("LocalInfra", (m) => {
  const token = m.contract("TestToken");
  // VRFCoordinatorV2_5Mock(baseFee, gasPrice, weiPerUnitLink): Chainlink's own test values.
  const coordinator = m.contract("VRFCoordinatorV2_5Mock", [
    m.getParameter("baseFee", 10n ** 17n),
    m.getParameter("gasPrice", 10n ** 9n),
    m.getParameter("weiPerUnitLink", 4n * 10n ** 15n),
  ]);
  const created = m.call(coordinator, "createSubscription", []);
  const subscriptionId = m.readEventArgument(created, "SubscriptionCreated", "subId");
  m.call(coordinator, "fundSubscription", [subscriptionId, m.getParameter("funding", 1_000n * 10n ** 18n)]);
  return { token, coordinator };
});
