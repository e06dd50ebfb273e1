// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {RegistryBase} from "./OperatorRegistry.t.sol";
import {IOperatorRegistry} from "../../../contracts/interfaces/IOperatorRegistry.sol";

/// The checks and reads OperatorRegistry.t.sol leaves out: every zero field of an operator, a
/// stream both read and written by one operator, unknown ids and pages past the end.
contract OperatorRegistryEdgesTest is RegistryBase {
    function setUp() public override {
        super.setUp();
        _registerStreams();
    }

    function test_registerOperator_refusesEachZeroField() public {
        vm.startPrank(registrar);
        string[4] memory fields = ["definitionHash", "bytecodeHash", "definitionTxId", "bytecodeTxId"];
        for (uint256 i; i < fields.length; ++i) {
            IOperatorRegistry.OperatorSpec memory o = _op("x");
            if (i == 0) o.definitionHash = 0;
            if (i == 1) o.bytecodeHash = 0;
            if (i == 2) o.definitionTxId = 0;
            if (i == 3) o.bytecodeTxId = 0;
            vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryZeroField.selector, fields[i]));
            reg.registerOperator(o);
        }
        (, uint32 operators) = reg.counts();
        assertEq(operators, 0, "nothing registered");
    }

    /// A stream may not be both an input and an output of one operator; the error names it as the
    /// output it also is.
    function test_registerOperator_refusesAStreamItBothReadsAndWrites() public {
        IOperatorRegistry.OperatorSpec memory o = _op("loop");
        o.inputs[1] = S_OUT;
        vm.prank(registrar);
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryDuplicateStream.selector, S_OUT));
        reg.registerOperator(o);
        assertFalse(reg.stream(S_OUT).hasProducer, "the failed registration claimed nothing");
    }

    function test_operator_unknownIdIsNotActive() public {
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryNotActive.selector, 0));
        reg.operator(0);
        vm.prank(registrar);
        reg.registerOperator(_op("a"));
        assertEq(reg.operator(0).id, 0, "registered");
        vm.expectRevert(abi.encodeWithSelector(IOperatorRegistry.RegistryNotActive.selector, 1));
        reg.operator(1);
    }

    function test_pagination_operatorsPastTheEndAndStreamsClamped() public {
        vm.startPrank(registrar);
        reg.registerOperator(_op("a"));
        assertEq(reg.operators(1, 10).length, 0, "at the end");
        assertEq(reg.operators(7, 10).length, 0, "past the end");
        assertEq(reg.operators(0, 0).length, 0, "empty page");
        IOperatorRegistry.StreamRecord[] memory page = reg.streams(1, 1);
        assertEq(page.length, 1, "one stream");
        assertEq(page[0].spec.id, S_IN2, "the second stream");
    }
}
