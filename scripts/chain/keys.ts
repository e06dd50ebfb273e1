// The public development accounts of anvil's (and Hardhat's) default mnemonic that the local tools
// use. They are known to everyone: local chains only.

/** The first account: the deployer and the timelock's proposer of a local deployment. */
export const DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
export const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/**
 * The tenth account sends VRF fulfilments, the ninth the faucet's mints: each process has its own
 * account, so that none takes a nonce another (or the deployer) is about to use.
 */
export const FULFILLER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";
export const FAUCET_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97";
