// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/**
 * @title IRandomnessBeacon
 * @notice One random value per epoch: requested once by the epoch manager when it freezes the
 * epoch, fulfilled at most once (docs/protocol.md §3). The production beacon is Chainlink VRF v2.5.
 */
interface IRandomnessBeacon {
    /// @notice Thrown when someone other than the epoch manager requests randomness.
    /// @param caller The caller.
    error BeaconUnauthorizedRequester(address caller);

    /// @notice Thrown when randomness for an epoch is requested a second time (or out of order).
    /// @param epoch The epoch.
    error BeaconAlreadyRequested(uint64 epoch);

    /// @notice Emitted when randomness for `epoch` is requested.
    event RandomnessRequested(uint64 indexed epoch, uint256 indexed requestId);

    /// @notice Emitted when the request for `epoch` is fulfilled (the first fulfilment only).
    event RandomnessFulfilled(uint64 indexed epoch, uint256 indexed requestId, bytes32 value);

    /// @notice Emitted when a fulfilment changes nothing: unknown request id or already fulfilled.
    event FulfilmentIgnored(uint256 indexed requestId);

    /// @notice Requests randomness for `epoch`. Only the epoch manager; once per epoch, in increasing order.
    /// @return requestId The coordinator's request id.
    function requestRandomness(uint64 epoch) external returns (uint256 requestId);

    /// @notice The randomness of `epoch`, if fulfilled.
    /// @return fulfilled Whether a value was delivered.
    /// @return value The value (zero while not fulfilled).
    /// @return fulfilledAt The block timestamp of the fulfilment (zero while not fulfilled).
    function randomnessOf(uint64 epoch) external view returns (bool fulfilled, bytes32 value, uint64 fulfilledAt);

    /// @notice The epoch a request id was made for (`exists` false for ids this beacon never made).
    /// The id of an epoch's request is in its `RandomnessRequested` and `EpochFrozen` events.
    function epochOfRequest(uint256 requestId) external view returns (bool exists, uint64 epoch);
}
