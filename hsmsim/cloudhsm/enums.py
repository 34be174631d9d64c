"""The CloudHSM v2 enums; ``tests/test_cloudhsm_contract.py`` checks them against botocore's model."""

from enum import StrEnum


class ClusterState(StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    UNINITIALIZED = "UNINITIALIZED"
    INITIALIZE_IN_PROGRESS = "INITIALIZE_IN_PROGRESS"
    INITIALIZED = "INITIALIZED"
    ACTIVE = "ACTIVE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    MODIFY_IN_PROGRESS = "MODIFY_IN_PROGRESS"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETED = "DELETED"
    DEGRADED = "DEGRADED"


class HsmState(StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    ACTIVE = "ACTIVE"
    DEGRADED = "DEGRADED"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETED = "DELETED"


class BackupState(StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    READY = "READY"
    DELETED = "DELETED"
    PENDING_DELETION = "PENDING_DELETION"


class ClusterMode(StrEnum):
    FIPS = "FIPS"
    NON_FIPS = "NON_FIPS"


class NetworkType(StrEnum):
    IPV4 = "IPV4"
    DUALSTACK = "DUALSTACK"


class HsmType(StrEnum):
    """The HSM types AWS documents; the model only constrains the pattern."""

    HSM1_MEDIUM = "hsm1.medium"
    HSM2M_MEDIUM = "hsm2m.medium"


class BackupRetentionType(StrEnum):
    DAYS = "DAYS"


class BackupPolicy(StrEnum):
    DEFAULT = "DEFAULT"
