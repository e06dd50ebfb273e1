export * from "./base.js";
export * from "./math.js";
export * from "./registry.js";
export * from "./contracts.js";
export * from "./read.js";
export * from "./books.js";
