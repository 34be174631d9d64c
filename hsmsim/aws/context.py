"""
The per-request context handed to every service operation as its first argument.

It carries who is calling and where (account, region and principal, from the SigV4 credential scope or, with
``hsmsim serve --credentials``, from the verified credential; see :mod:`hsmsim.aws.sigv4`) and what is being called,
so that operations never look at HTTP.
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
    :ivar principal: the caller's ARN: the IAM user or role of a verified credential that names one, else the
        account's root ``arn:aws:iam::<account>:root`` (the default when left empty). Carried for authorization
        (key policies, grants).
    :ivar authenticated: whether the request's signature was verified against a credentials file; only then do
        key policies and grants see the principal (kms.policies), else the caller is its account's root as before.
    :ivar iam_policy: with ``authenticated``, the IAM policy (JSON text) of a user or role principal, ``None`` for
        none.
    """

    service: str
    operation: str
    account_id: str
    region: str
    request_id: str
    principal: str = ""
    authenticated: bool = False
    iam_policy: str | None = None

    def __post_init__(self) -> None:
        if not self.principal:
            object.__setattr__(self, "principal", f"arn:aws:iam::{self.account_id}:root")
