export * from "./headers.js";
export * from "./receipts.js";
export * from "./rlp.js";
