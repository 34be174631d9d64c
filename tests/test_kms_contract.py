"""The KMS service against the pinned botocore model: every operation implemented, enums and errors identical,
and the key-state table covering every operation that takes a key."""

import inspect

import pytest
from botocore import xform_name

from hsmsim.aws.dispatch import method_name, missing_operations
from hsmsim.aws.spec import load_service_model
from kms import enums
from kms.errors import kms_error_classes
from kms.keystates import KEY_STATE_RULES
from kms.service import MEMORY_OPERATIONS, KMSService

MODEL = load_service_model("kms")


def test_every_operation_of_the_model_has_a_method():
    assert len(MODEL.operation_names) == 56
    assert missing_operations(KMSService, MODEL) == []


@pytest.mark.parametrize("operation", MODEL.operation_names)
def test_every_input_member_is_a_parameter(operation):
    """A member the method does not take would be a TypeError (a 500) the day a client sends it."""
    parameters = inspect.signature(getattr(KMSService, method_name(operation))).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    members = MODEL.operation_model(operation).input_shape.members
    assert [m for m in members if xform_name(m) not in parameters] == []


@pytest.mark.parametrize(
    ("shape", "enum"),
    [
        ("KeyState", enums.KeyState),
        ("KeySpec", enums.KeySpec),
        ("KeyUsageType", enums.KeyUsage),
        ("OriginType", enums.Origin),
        ("KeyManagerType", enums.KeyManager),
        ("EncryptionAlgorithmSpec", enums.EncryptionAlgorithm),
        ("SigningAlgorithmSpec", enums.SigningAlgorithm),
        ("MacAlgorithmSpec", enums.MacAlgorithm),
        ("KeyAgreementAlgorithmSpec", enums.KeyAgreementAlgorithm),
        ("EncapsulationAlgorithmSpec", enums.EncapsulationAlgorithm),
        ("MessageType", enums.MessageType),
        ("DataKeySpec", enums.DataKeySpec),
        ("ExpirationModelType", enums.ExpirationModel),
        ("ImportType", enums.ImportType),
        ("ImportState", enums.ImportState),
        ("KeyMaterialState", enums.KeyMaterialState),
        ("RotationType", enums.RotationType),
        ("MultiRegionKeyType", enums.MultiRegionKeyType),
        ("AlgorithmSpec", enums.WrappingAlgorithm),
        ("WrappingKeySpec", enums.WrappingKeySpec),
        ("GrantOperation", enums.GrantOperation),
        ("ConnectionStateType", enums.ConnectionState),
        ("ConnectionErrorCodeType", enums.ConnectionErrorCode),
        ("CustomKeyStoreType", enums.CustomKeyStoreType),
    ],
)
def test_enums_match_the_model(shape, enum):
    assert [e.value for e in enum] == MODEL.shape_for(shape).enum


def test_error_classes_cover_the_model():
    assert {shape.name for shape in MODEL.error_shapes} == set(kms_error_classes())


def test_key_state_table_covers_every_key_operation():
    """Every operation whose input has a KeyId is in the table (ReEncrypt as its two halves, UpdateAlias as the
    new target's rule)."""
    renamed = {"ReEncrypt": "ReEncryptFrom", "UpdateAlias": "UpdateAliasTarget"}
    keyed = {
        renamed.get(name, name)
        for name in MODEL.operation_names
        if {"KeyId", "TargetKeyId", "DestinationKeyId"} & set(MODEL.operation_model(name).input_shape.members)
    }
    keyed -= {"ListAliases", "RetireGrant"}  # KeyId is a filter / an alternative to the grant token
    assert keyed <= set(KEY_STATE_RULES)


def test_memory_operations_are_read_only_operations_of_the_model():
    assert MEMORY_OPERATIONS <= set(MODEL.operation_names)
    assert not {op for op in MEMORY_OPERATIONS if op.startswith(("Create", "Delete", "Put", "Update", "Schedule"))}
