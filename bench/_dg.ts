import { network } from "hardhat";
import { measureDisputeGas } from "./disputes.gas.js";
const { ethers, networkHelpers } = await network.create();
console.log(await measureDisputeGas(ethers, networkHelpers));
