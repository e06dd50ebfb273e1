export * from "./headers.js";
export * from "./receipts.js";
