export * from "./types.js";
export * from "./buildBatch.js";
export * from "./signBatch.js";
export * from "./verifyBatch.js";
export * from "./verifyAccumulatedProof.js";
export * from "./stateCache.js";
