export * from "./sharding.js";
export * from "./shuffle.js";
export * from "./lthash.js";
export * from "./merkle.js";
export * from "./eip712.js";
export { keccakBytes } from "./wasm.js";
export { recoverSigner } from "./ecrecover.js";
