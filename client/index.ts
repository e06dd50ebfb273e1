export * from "./errors/index.js";
export * from "./math/index.js";
export * from "./arweave/ids.js";
export * from "./registry/graphHash.js";
export * from "./registry/syncGraph.js";
export * from "./oracle/headers.js";
