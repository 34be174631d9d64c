"""
Dispatching a parsed request to a service object's method.

A service is a plain object with one method per operation, named by botocore's ``xform_name`` (the names
boto3 users know: ``CreateCluster`` -> ``create_cluster``). Each method takes the
:class:`~hsmsim.aws.context.RequestContext` first and the operation's members as keyword arguments, again
in ``xform_name`` form (``SubnetIds`` -> ``subnet_ids``), and returns the output as a dict keyed by model
member names (or ``None`` for an empty output)::

    class CloudHSMService:
        def create_cluster(self, context, *, hsm_type, subnet_ids, backup_retention_policy=None, ...):
            ...
            return {"Cluster": {...}}

Members absent from the request are not passed, so optional parameters need defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore import xform_name
from botocore.model import OperationModel, ServiceModel

from hsmsim.aws.context import RequestContext


def method_name(operation_name: str) -> str:
    """The method that implements *operation_name* (``GenerateDataKeyPair`` -> ``generate_data_key_pair``)."""
    name: str = xform_name(operation_name)
    return name


def operation_kwargs(operation_model: OperationModel, params: Mapping[str, Any]) -> dict[str, Any]:
    """Convert parsed params (model member names) into keyword arguments (``KeyId`` -> ``key_id``)."""
    return {xform_name(name): value for name, value in params.items()}


def invoke(
    service_object: object,
    operation_model: OperationModel,
    params: Mapping[str, Any],
    context: RequestContext,
) -> Mapping[str, Any]:
    """
    Call the method implementing *operation_model* on *service_object* and return its result.

    :returns: the method's result; ``{}`` if it returned ``None``.
    :raises NotImplementedError: if the service object has no such method.
    """
    name = method_name(operation_model.name)
    method = getattr(service_object, name, None)
    if not callable(method):
        raise NotImplementedError(
            f"{type(service_object).__name__} does not implement operation {operation_model.name} "
            f"(no method {name!r})"
        )
    result = method(context, **operation_kwargs(operation_model, params))
    return {} if result is None else result


def missing_operations(service_object: object, service_model: ServiceModel) -> list[str]:
    """The operations of *service_model* (in model order) that *service_object* has no method for."""
    return [
        name
        for name in service_model.operation_names
        if not callable(getattr(service_object, method_name(name), None))
    ]
