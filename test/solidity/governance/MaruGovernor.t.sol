// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {Test} from "../utils/Test.sol";
import {MaruGovernor} from "../../../contracts/governance/MaruGovernor.sol";
import {MaruVotesToken} from "../../../contracts/governance/MaruVotesToken.sol";
import {OperatorRegistry} from "../../../contracts/registry/OperatorRegistry.sol";
import {IOperatorRegistry} from "../../../contracts/interfaces/IOperatorRegistry.sol";
import {PartitionSpec, KeyKind} from "../../../contracts/libraries/Sharding.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// The testnet governance of docs/governance.md: token holders vote, the timelock executes.
contract MaruGovernorTest is Test {
    MaruVotesToken internal token;
    TimelockController internal timelock;
    MaruGovernor internal governor;
    OperatorRegistry internal reg;
    uint256 internal constant VOTER_KEY = 0xA11CE;
    address internal voter;
    uint256 internal constant DELAY = 1 hours;
    uint48 internal constant VOTING_DELAY = 1;
    uint32 internal constant VOTING_PERIOD = 50;

    address[] internal targets;
    uint256[] internal values;
    bytes[] internal calldatas;
    string internal constant DESCRIPTION = "Register the transfers stream";

    function setUp() public {
        voter = vm.addr(VOTER_KEY);
        token = new MaruVotesToken(voter, 1_000_000e18);
        vm.prank(voter);
        token.delegate(voter);
        address[] memory executors = new address[](1); // anyone executes a ready operation
        timelock = new TimelockController(DELAY, new address[](0), executors, address(this));
        governor = new MaruGovernor(token, timelock, VOTING_DELAY, VOTING_PERIOD, 0, 4);
        timelock.grantRole(timelock.PROPOSER_ROLE(), address(governor));
        timelock.grantRole(timelock.CANCELLER_ROLE(), address(governor));
        timelock.renounceRole(timelock.DEFAULT_ADMIN_ROLE(), address(this));
        reg = new OperatorRegistry(address(timelock));
        vm.roll(block.number + 1); // the delegation is a past checkpoint

        IOperatorRegistry.StreamSpec memory s;
        s.id = keccak256("transfers");
        s.schemaHash = keccak256("schema");
        s.partition = PartitionSpec(KeyKind.WHOLE, 0, 0);
        targets.push(address(reg));
        values.push(0);
        calldatas.push(abi.encodeCall(OperatorRegistry.registerStream, (s)));
    }

    function _propose() internal returns (uint256 id) {
        vm.prank(voter);
        id = governor.propose(targets, values, calldatas, DESCRIPTION);
        assertEq(id, governor.hashProposal(targets, values, calldatas, keccak256(bytes(DESCRIPTION))), "id");
    }

    function _state(uint256 id) internal view returns (uint256) {
        return uint256(governor.state(id));
    }

    function test_proposal_votedQueuedAndExecutedAfterTheDelay() public {
        assertEq(governor.proposalThreshold(), 0, "anyone proposes");
        uint256 id = _propose();
        assertEq(_state(id), uint256(IGovernor.ProposalState.Pending), "pending");
        assertTrue(governor.proposalNeedsQueuing(id), "queues in the timelock");
        vm.roll(block.number + VOTING_DELAY + 1);
        vm.prank(voter);
        governor.castVote(id, 1); // for
        vm.roll(block.number + VOTING_PERIOD);
        assertEq(_state(id), uint256(IGovernor.ProposalState.Succeeded), "succeeded");
        bytes32 descriptionHash = keccak256(bytes(DESCRIPTION));
        governor.queue(targets, values, calldatas, descriptionHash);
        assertEq(_state(id), uint256(IGovernor.ProposalState.Queued), "queued");
        // The timelock holds it for DELAY: its operation is not ready yet.
        bytes32 salt = bytes20(address(governor)) ^ descriptionHash;
        bytes32 op = timelock.hashOperationBatch(targets, values, calldatas, 0, salt);
        vm.expectRevert(
            abi.encodeWithSelector(
                TimelockController.TimelockUnexpectedOperationState.selector,
                op,
                bytes32(1 << uint8(TimelockController.OperationState.Ready))
            )
        );
        governor.execute(targets, values, calldatas, descriptionHash);
        vm.warp(block.timestamp + DELAY);
        governor.execute(targets, values, calldatas, descriptionHash);
        assertEq(_state(id), uint256(IGovernor.ProposalState.Executed), "executed");
        assertEq(reg.graphVersion(), 1, "the registry changed, through the timelock");
        assertTrue(timelock.isOperationDone(op), "the timelock's operation is done");
    }

    function test_proposal_cancelledByItsProposerOnlyWhilePending() public {
        uint256 id = _propose();
        bytes32 descriptionHash = keccak256(bytes(DESCRIPTION));
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, id, address(this)));
        governor.cancel(targets, values, calldatas, descriptionHash);
        vm.prank(voter);
        governor.cancel(targets, values, calldatas, descriptionHash);
        assertEq(_state(id), uint256(IGovernor.ProposalState.Canceled), "canceled");
        vm.roll(block.number + VOTING_DELAY + 1);
        vm.prank(voter);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGovernor.GovernorUnexpectedProposalState.selector,
                id,
                IGovernor.ProposalState.Canceled,
                bytes32(1 << uint8(IGovernor.ProposalState.Active))
            )
        );
        governor.castVote(id, 1);
        // Once voting started, not even its proposer can cancel it.
        uint256 second = _proposeAgain();
        vm.roll(block.number + VOTING_DELAY + 1);
        vm.prank(voter);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorUnableToCancel.selector, second, voter));
        governor.cancel(targets, values, calldatas, keccak256("again"));
    }

    function _proposeAgain() internal returns (uint256) {
        vm.prank(voter);
        return governor.propose(targets, values, calldatas, "again");
    }

    function test_token_permitUsesAndAdvancesTheNonce() public {
        address spender = address(0x5BE7);
        uint256 deadline = block.timestamp + 1 days;
        assertEq(token.nonces(voter), 0, "fresh nonce");
        bytes32 digest = _permitDigest(voter, spender, 5e18, 0, deadline);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(VOTER_KEY, digest);
        token.permit(voter, spender, 5e18, deadline, v, r, s);
        assertEq(token.allowance(voter, spender), 5e18, "allowance");
        assertEq(token.nonces(voter), 1, "nonce used");
        // A replay is checked against nonce 1, so it recovers some other signer.
        address recovered = ecrecover(_permitDigest(voter, spender, 5e18, 1, deadline), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, voter));
        token.permit(voter, spender, 5e18, deadline, v, r, s);
        // Votes follow the tokens (the _update override).
        vm.prank(voter);
        token.transfer(spender, 400_000e18);
        assertEq(token.getVotes(voter), 600_000e18, "votes after a transfer");
    }

    function _permitDigest(
        address owner,
        address spender,
        uint256 value,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (bytes32) {
        bytes32 typeHash = keccak256(
            "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
        );
        bytes32 structHash = keccak256(abi.encode(typeHash, owner, spender, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }
}
