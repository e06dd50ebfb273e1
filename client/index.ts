export * from "./errors/index.js";
export * from "./math/index.js";
