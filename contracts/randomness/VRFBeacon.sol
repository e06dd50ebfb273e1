// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {VRFConsumerBaseV2Plus} from "@chainlink/contracts/src/v0.8/vrf/dev/VRFConsumerBaseV2Plus.sol";
import {VRFV2PlusClient} from "@chainlink/contracts/src/v0.8/vrf/dev/libraries/VRFV2PlusClient.sol";
import {IRandomnessBeacon} from "../interfaces/IRandomnessBeacon.sol";

/**
 * @title VRFBeacon
 * @notice The production randomness beacon: Chainlink VRF v2.5 with subscription funding
 * (docs/protocol.md §3). The callback only stores the first value for a known request and never reverts;
 * late, duplicate or unknown fulfilments change nothing. The owner (ConfirmedOwner, two-step; hand
 * it to the timelock) can change the coordinator, key hash, confirmations and callback gas, which
 * is why it must be governance: a coordinator chooses the randomness.
 *
 * Nothing here refers to the mock coordinator; local chains deploy Chainlink's
 * VRFCoordinatorV2_5Mock and pass its address like a real coordinator's.
 */
contract VRFBeacon is IRandomnessBeacon, VRFConsumerBaseV2Plus {
    /// @notice Thrown when the requester is set twice or to zero.
    error BeaconRequesterAlreadySet(address requester);

    /// @notice Emitted when the VRF request settings change.
    event VrfConfigSet(
        bytes32 keyHash,
        uint256 subscriptionId,
        uint16 confirmations,
        uint32 callbackGasLimit,
        bool nativePayment
    );

    /// @notice Emitted when the requester (the epoch manager) is set.
    event RequesterSet(address requester);

    struct Request {
        uint64 epoch;
        bool exists;
    }

    struct Value {
        uint64 fulfilledAt;
        bool fulfilled;
        bytes32 value;
    }

    address private _requester;
    /// @dev Epochs are requested in increasing order (the epoch manager freezes them in order), so
    /// one word guards against a second request for an epoch instead of a fresh slot per epoch.
    uint64 private _lastRequestedEpoch;
    bytes32 private _keyHash;
    uint256 private _subscriptionId;
    uint16 private _confirmations;
    uint32 private _callbackGasLimit;
    bool private _nativePayment;

    mapping(uint256 requestId => Request) private _requests;
    mapping(uint64 epoch => Value) private _values;

    /**
     * @param coordinator The VRF v2.5 coordinator.
     * @param keyHash The gas lane key hash.
     * @param subscriptionId The funded subscription this beacon is a consumer of.
     * @param confirmations Blocks the coordinator waits before answering (REQUEST_CONFIRMATIONS).
     * @param callbackGasLimit Gas for the callback (it stores one value: 100,000 is ample).
     * @param nativePayment Pay in the native token instead of LINK.
     */
    constructor(
        address coordinator,
        bytes32 keyHash,
        uint256 subscriptionId,
        uint16 confirmations,
        uint32 callbackGasLimit,
        bool nativePayment
    ) VRFConsumerBaseV2Plus(coordinator) {
        _setConfig(keyHash, subscriptionId, confirmations, callbackGasLimit, nativePayment);
    }

    /// @notice Sets the only account that may request: the epoch manager. Once.
    function setRequester(address newRequester) external onlyOwner {
        require(_requester == address(0) && newRequester != address(0), BeaconRequesterAlreadySet(_requester));
        _requester = newRequester;
        emit RequesterSet(newRequester);
    }

    /// @notice Changes the VRF request settings (owner: governance).
    function setConfig(
        bytes32 keyHash,
        uint256 subscriptionId,
        uint16 confirmations,
        uint32 callbackGasLimit,
        bool nativePayment
    ) external onlyOwner {
        _setConfig(keyHash, subscriptionId, confirmations, callbackGasLimit, nativePayment);
    }

    /// @inheritdoc IRandomnessBeacon
    function requestRandomness(uint64 epoch) external returns (uint256 requestId) {
        require(msg.sender == _requester, BeaconUnauthorizedRequester(msg.sender));
        if (epoch <= _lastRequestedEpoch) revert BeaconAlreadyRequested(epoch);
        _lastRequestedEpoch = epoch;
        requestId = s_vrfCoordinator.requestRandomWords(
            VRFV2PlusClient.RandomWordsRequest({
                keyHash: _keyHash,
                subId: _subscriptionId,
                requestConfirmations: _confirmations,
                callbackGasLimit: _callbackGasLimit,
                numWords: 1,
                extraArgs: VRFV2PlusClient._argsToBytes(VRFV2PlusClient.ExtraArgsV1({nativePayment: _nativePayment}))
            })
        );
        _requests[requestId] = Request(epoch, true);
        emit RandomnessRequested(epoch, requestId);
    }

    /// @dev Stores the first value for a known request; everything else is ignored, never reverted.
    // The name is Chainlink's hook (VRFConsumerBaseV2Plus).
    // solhint-disable-next-line private-vars-leading-underscore
    function fulfillRandomWords(uint256 requestId, uint256[] calldata randomWords) internal override {
        Request memory req = _requests[requestId];
        Value storage v = _values[req.epoch];
        if (!req.exists || v.fulfilled || randomWords.length == 0) {
            emit FulfilmentIgnored(requestId);
            return;
        }
        bytes32 value = bytes32(randomWords[0]);
        v.fulfilledAt = uint64(block.timestamp);
        v.fulfilled = true;
        v.value = value;
        emit RandomnessFulfilled(req.epoch, requestId, value);
    }

    /// @inheritdoc IRandomnessBeacon
    function randomnessOf(uint64 epoch) external view returns (bool fulfilled, bytes32 value, uint64 fulfilledAt) {
        Value storage v = _values[epoch];
        return (v.fulfilled, v.value, v.fulfilledAt);
    }

    /// @notice The epoch a request id was made for, if any.
    function epochOfRequest(uint256 requestId) external view returns (bool exists, uint64 epoch) {
        Request memory r = _requests[requestId];
        return (r.exists, r.epoch);
    }

    /// @notice The epoch manager.
    function requester() external view returns (address) {
        return _requester;
    }

    /// @notice The VRF request settings.
    function config()
        external
        view
        returns (
            bytes32 keyHash,
            uint256 subscriptionId,
            uint16 confirmations,
            uint32 callbackGasLimit,
            bool nativePayment
        )
    {
        return (_keyHash, _subscriptionId, _confirmations, _callbackGasLimit, _nativePayment);
    }

    function _setConfig(
        bytes32 keyHash,
        uint256 subscriptionId,
        uint16 confirmations,
        uint32 callbackGasLimit,
        bool nativePayment
    ) private {
        _keyHash = keyHash;
        _subscriptionId = subscriptionId;
        _confirmations = confirmations;
        _callbackGasLimit = callbackGasLimit;
        _nativePayment = nativePayment;
        emit VrfConfigSet(keyHash, subscriptionId, confirmations, callbackGasLimit, nativePayment);
    }
}
