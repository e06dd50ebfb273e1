// The VRF beacon on a Chainlink VRF v2.5 coordinator (the real one on testnets, the mock locally).
// The subscription belongs to governance (the timelock); the beacon must be added to it as a
// consumer. The deploy script adds it and requests the subscription's transfer to the timelock when
// the deployer owns the subscription, else it says what the owner must do.
import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

export default buildModule("Randomness", (m) => {
  const beacon = m.contract("VRFBeacon", [
    m.getParameter<string>("coordinator"),
    m.getParameter<string>("keyHash"),
    m.getParameter<bigint>("subscriptionId"),
    m.getParameter("requestConfirmations", 3),
    m.getParameter("callbackGasLimit", 200_000),
    m.getParameter("nativePayment", false),
  ]);
  return { beacon };
});
