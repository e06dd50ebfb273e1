export * from "./buildEvidence.js";
export * from "./submitEvidence.js";
