// Read helpers (docs/client.md, "Reading the chain"): plain typed objects for status screens and
// CLIs; amounts are bigints in the stake token's smallest unit (getStakeToken gives decimals).
export * from "./page.js";
export * from "./getEpoch.js";
export * from "./getWorker.js";
export * from "./getStakeToken.js";
export * from "./listOperators.js";
export * from "./listStreams.js";
