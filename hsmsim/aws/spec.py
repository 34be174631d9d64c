"""
Loading botocore service models: the API contract of the simulator.

botocore is pinned in ``pyproject.toml``, and its bundled ``service-2.json`` files are the single source of
truth for operation names, shapes and constraints. Models are loaded only from botocore's own data directory
(not from ``~/.aws/models`` or ``AWS_DATA_PATH``), so that a model installed on a developer's machine cannot
change the contract.
"""

from __future__ import annotations

import functools

from botocore.loaders import Loader
from botocore.model import ServiceModel


@functools.lru_cache(maxsize=1)
def _loader() -> Loader:
    return Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)


@functools.cache
def load_service_model(name: str) -> ServiceModel:
    """
    Return the botocore :class:`~botocore.model.ServiceModel` of service *name* (newest API version).

    :param name: the botocore service name, e.g. ``"kms"`` or ``"cloudhsmv2"``.
    :raises botocore.exceptions.UnknownServiceError: if botocore has no such model.

    The result is cached: every caller shares one model object, so per-model caches (compiled shapes,
    operation tables) are built once.
    """
    model = _loader().load_service_model(name, "service-2")
    return ServiceModel(model, service_name=name)
