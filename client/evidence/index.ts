export * from "./buildEvidence.js";
export * from "./submitEvidence.js";
export * from "./disputes.js";
