export * from "./base.js";
export * from "./math.js";
