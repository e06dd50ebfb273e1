// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice The devnet's CHAIN source (docs/protocol.md §9): a real ERC-20 (OpenZeppelin's) whose
/// Transfer logs the sample dataflow reads, with a load generator that moves it between a pool of
/// accounts. Test-only: anyone may mint and anyone may move the pool's tokens.
contract LoadToken is ERC20 {
    constructor() ERC20("Maru Load Token", "tLOAD") {}

    /// @notice Account `i` of the pool: an address nobody holds a key to.
    function accountOf(uint256 i) public pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("maru load account", i)))));
    }

    /// @notice Mints `amount` to each of the pool's first `accounts` accounts.
    function fund(uint256 accounts, uint256 amount) external {
        for (uint256 i; i < accounts; ++i) _mint(accountOf(i), amount);
    }

    /// @notice `count` transfers between two different accounts of the first `accounts` (at least
    /// two), of 1 to 1,000 base units each, drawn from `seed`: one Transfer log each. With
    /// `approveEvery` > 0, transfers 0, approveEvery, 2·approveEvery, … are followed by an approval
    /// by their receiver to their sender (an Approval log: a second CHAIN source); 0 approves nothing.
    function scatter(uint256 accounts, uint256 count, uint256 seed, uint256 approveEvery) external {
        for (uint256 i; i < count; ++i) {
            uint256 x = uint256(keccak256(abi.encode(seed, i)));
            uint256 a = x % accounts;
            uint256 b = (x >> 64) % accounts;
            if (b == a) b = (a + 1) % accounts;
            _transfer(accountOf(a), accountOf(b), 1 + ((x >> 128) % 1000));
            if (approveEvery != 0 && i % approveEvery == 0) _approve(accountOf(b), accountOf(a), x >> 192);
        }
    }
}
