export * from "./send.js";
export * from "./stake.js";
export * from "./register.js";
export * from "./unstake.js";
export * from "./commit.js";
export * from "./waitForEpoch.js";
export * from "./verifyRandomness.js";
export * from "./getAssignment.js";
