"""Testing against hsmsim: a real server, ACTIVE clusters and CONNECTED custom key stores, with or without pytest.

* :func:`simulator` (context manager) -> :class:`Simulation` -> :class:`Account` (a fresh AWS account id: boto3
  clients, ``cluster()``, ``custom_key_store()``, ``kms_key()``, ``hsm_session()``): :mod:`hsmsim.testing.simulation`.
* :class:`ServerProcess`, :class:`ServerStartError`, :func:`check_endpoint`: :mod:`hsmsim.testing.server`.
* :class:`HsmCluster`, :class:`HsmUser`: :mod:`hsmsim.testing.clusters`.
* :class:`CustomerCA`, the customer's CA that signs the cluster CSR: :mod:`hsmsim.testing.ca`.

The pytest fixtures (:mod:`hsmsim.pytest_plugin`, loaded automatically once hsmsim is installed) are built on these.
"""

from hsmsim.testing.ca import CustomerCA
from hsmsim.testing.clusters import HsmCluster, HsmUser, SetupError
from hsmsim.testing.server import (
           ServerProcess,
           ServerStartError,
           check_endpoint,
           free_port,
)
from hsmsim.testing.simulation import (
           Account,
           KeyStore,
           Simulation,
           new_account_id,
           simulator,
)

__all__ = ["Account", "CustomerCA", "HsmCluster", "HsmUser", "KeyStore", "ServerProcess", "ServerStartError",
           "SetupError", "Simulation", "check_endpoint", "free_port", "new_account_id", "simulator"]
