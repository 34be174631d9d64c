"""The CloudHSM v2 service: one method per operation of botocore's ``cloudhsmv2`` model.

The operations live in groups (clusters, HSMs, backups, tags), each a small module; this class composes them.
``tests/test_cloudhsm_contract.py`` checks that every operation of the pinned model has its method.
"""

from hsmsim.cloudhsm.backups import BackupOperations
from hsmsim.cloudhsm.clusters import ClusterOperations
from hsmsim.cloudhsm.hsms import HsmOperations
from hsmsim.cloudhsm.tags import TagOperations


class CloudHSMService(ClusterOperations, HsmOperations, BackupOperations, TagOperations):
    """Built per request with the runtime and the request's unit of work."""
