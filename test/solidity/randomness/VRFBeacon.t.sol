// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {EpochsBase} from "../epochs/EpochsBase.sol";
import {VRFBeacon} from "../../../contracts/randomness/VRFBeacon.sol";

/// The beacon's settings: only its owner (governance, through the timelock) changes them, because a
/// coordinator or subscription chooses whether and what randomness arrives (docs/contracts/vrf-beacon.md).
contract VRFBeaconConfigTest is EpochsBase {
    function test_config_readsBack_andOnlyTheOwnerChangesIt() public {
        (bytes32 keyHash, uint256 sub, uint16 confirmations, uint32 gasLimit, bool native) = beacon.config();
        assertEq(keyHash, keccak256("lane"), "key hash");
        assertEq(sub, subId, "subscription");
        assertEq(confirmations, 3, "confirmations");
        assertEq(gasLimit, 200_000, "callback gas");
        assertFalse(native, "LINK payment");
        assertEq(beacon.requester(), address(em), "the epoch manager requests");

        vm.prank(address(0xBAD));
        vm.expectRevert(bytes("Only callable by owner"));
        beacon.setConfig(keccak256("other"), 7, 10, 300_000, true);

        beacon.setConfig(keccak256("other"), 7, 10, 300_000, true); // this test deployed it: the owner
        (keyHash, sub, confirmations, gasLimit, native) = beacon.config();
        assertEq(keyHash, keccak256("other"), "new key hash");
        assertEq(sub, 7, "new subscription");
        assertEq(confirmations, 10, "new confirmations");
        assertEq(gasLimit, 300_000, "new callback gas");
        assertTrue(native, "native payment");
    }

    function test_setRequester_once() public {
        vm.expectRevert(abi.encodeWithSelector(VRFBeacon.BeaconRequesterAlreadySet.selector, address(em)));
        beacon.setRequester(address(1));
    }
}
