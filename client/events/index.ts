export * from "./watchEvents.js";
export * from "./logRanges.js";
