export * from "./headers.js";
