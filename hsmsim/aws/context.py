"""
The per-request context handed to every service operation as its first argument.

It carries who is calling and where (account and region, from the SigV4 credential scope; see
:mod:`hsmsim.aws.sigv4`) and what is being called, so that operations never look at HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    """
    :ivar service: the botocore service name, e.g. ``"cloudhsmv2"`` or ``"kms"``.
    :ivar operation: the operation name as in the model, e.g. ``"CreateCluster"``.
    :ivar account_id: the 12-digit account the request acts in.
    :ivar region: the region the request acts in, e.g. ``"us-east-1"``.
    :ivar request_id: the id returned in ``x-amzn-RequestId``.
    """

    service: str
    operation: str
    account_id: str
    region: str
    request_id: str
