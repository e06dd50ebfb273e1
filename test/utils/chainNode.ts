// The chain node and gateway processes the tests use are the devnet's (scripts/lib/processes.ts).
export { startAnvil, startArlocal, type ChainNode, type Gateway } from "../../scripts/lib/processes.js";
