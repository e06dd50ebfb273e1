// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochManager} from "../epochs/EpochManager.sol";
import {TestToken} from "./TestToken.sol";

/// @notice One contract-worker: registers, stakes and commits through the real EpochManager.
contract BulkWorker {
    constructor(EpochManager epochs, TestToken token, uint256 amount, uint64 epoch) {
        token.mint(address(this), amount);
        token.approve(address(epochs), amount);
        epochs.register(address(this), hex"2f6970342f3132372e302e302e312f7463702f31");
        epochs.stake(amount);
        epochs.commit(epoch);
    }
}

/// @notice Fills an epoch with many real commitments in few transactions, so that the gas benchmark
/// can measure the 10,000th commit and a freeze at n = 10,000 on the simulated network. Test-only.
contract BulkWorkers {
    function spawn(EpochManager epochs, TestToken token, uint256 amount, uint64 epoch, uint256 count) external {
        for (uint256 i; i < count; ++i) new BulkWorker(epochs, token, amount, epoch);
    }
}
