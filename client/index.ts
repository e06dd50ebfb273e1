// The worker client (docs/client.md): one import, or a sub-path per area
// (`@maru/client/math`, `/batches`, `/evidence`, `/actions`, `/events`, `/errors`, `/oracle`, `/read`, `/books`).
export * from "./errors/index.js";
export * from "./math/index.js";
export * from "./arweave/ids.js";
export * from "./registry/graphHash.js";
export * from "./registry/syncGraph.js";
export * from "./registry/handoff.js";
export * from "./oracle/index.js";
export * from "./contracts.js";
export * from "./batches/index.js";
export * from "./evidence/index.js";
export * from "./actions/index.js";
export * from "./events/index.js";
export * from "./read/index.js";
export * from "./books/index.js";
export * from "./rpc.js";
export * from "./units.js";
