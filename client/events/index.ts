export * from "./watchEvents.js";
