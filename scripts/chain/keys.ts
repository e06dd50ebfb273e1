// The public development accounts of anvil's (and Hardhat's) default mnemonic that the local tools
// use. They are known to everyone: local chains only.

/** The first account: the deployer and the timelock's proposer of a local deployment. */
export const DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
export const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/**
 * The tenth account: it sends VRF fulfilments and faucet mints, so that they never take a nonce
 * the deployer is about to use.
 */
export const FULFILLER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
