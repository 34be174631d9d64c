"""The service against the pinned botocore model: every operation implemented, every enum identical."""

import pytest

from hsmsim.aws.dispatch import missing_operations
from hsmsim.aws.spec import load_service_model
from hsmsim.cloudhsm import enums
from hsmsim.cloudhsm.service import CloudHSMService

MODEL = load_service_model("cloudhsmv2")


def test_every_operation_of_the_model_has_a_method():
    assert len(MODEL.operation_names) == 18
    assert missing_operations(CloudHSMService, MODEL) == []


@pytest.mark.parametrize(
    ("shape", "enum"),
    [
        ("ClusterState", enums.ClusterState),
        ("HsmState", enums.HsmState),
        ("BackupState", enums.BackupState),
        ("ClusterMode", enums.ClusterMode),
        ("NetworkType", enums.NetworkType),
        ("BackupRetentionType", enums.BackupRetentionType),
        ("BackupPolicy", enums.BackupPolicy),
    ],
)
def test_enums_match_the_model(shape, enum):
    assert [e.value for e in enum] == MODEL.shape_for(shape).enum


def test_error_classes_cover_the_model():
    from hsmsim.cloudhsm import errors

    modeled = {shape.name for shape in MODEL.error_shapes}
    assert modeled == {name for name in dir(errors) if name.startswith("CloudHsm")}
