"""
Errors that travel back to the caller as AWS JSON 1.1 error responses.

Every error an operation wants the client to see is a :class:`ServiceError` subclass. The class carries the
wire-level facts (the error code that becomes ``__type`` and the HTTP status); the instance carries the
message. Services declare their modeled exceptions as subclasses named exactly as in the botocore model::

    class CloudHsmInvalidRequestException(ServiceError):
        code = "CloudHsmInvalidRequestException"

The protocol layer (:mod:`hsmsim.aws.serializer`) decides how the message is spelled on the wire
(``Message`` for CloudHSM v2 shapes, ``message`` for KMS shapes and for non-modeled errors); services never
deal with that.

The non-modeled errors below are the ones AWS's request-handling framework (Coral) returns before an
operation runs: they exist in no service model but every JSON service can return them.
"""

from __future__ import annotations

from typing import ClassVar


class ServiceError(Exception):
    """
    Base class of every error that is serialized to the client.

    :cvar code: the error code, sent as ``__type`` and ``X-Amzn-ErrorType``.
    :cvar status: the HTTP status code of the response.
    :ivar message: the human-readable message.
    :ivar include_message: when false the response body carries no message member at all (real KMS does
        this for e.g. ``InvalidCiphertextException`` and ``KMSInvalidSignatureException``). A class may
        set it as a default; the constructor argument overrides it per instance.
    """

    code: ClassVar[str] = "ServiceException"
    status: ClassVar[int] = 400
    include_message: bool = True

    def __init__(self, message: str = "", *, include_message: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if include_message is not None:
            self.include_message = include_message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ValidationException(ServiceError):
    """A request member violates a constraint of the model (length, range, enum, pattern, required)."""

    code = "ValidationException"


class SerializationException(ServiceError):
    """The request body cannot be read against the input shape (bad JSON, wrong JSON type, bad base64)."""

    code = "SerializationException"


class UnknownOperationException(ServiceError):
    """The ``X-Amz-Target`` header is missing or names no known service or operation."""

    code = "UnknownOperationException"


class AccessDeniedException(ServiceError):
    """The caller is not authorized (e.g. by a resource policy): ``User: <arn> is not authorized to perform: …``."""

    code = "AccessDeniedException"


class InternalFailure(ServiceError):
    """An unexpected failure inside the simulator (a bug); botocore retries it like any 5xx."""

    code = "InternalFailure"
    status = 500


# -- authentication (SigV4 verification, only with ``hsmsim serve --credentials``) ------------------------------
# Codes and messages as AWS's JSON services answer them (HTTP 400 for all four: the AWS JSON services' answers
# as reported by their SDKs; "Common Errors" of the API references lists the Query-protocol spellings).


class MissingAuthenticationTokenException(ServiceError):
    """The request carries no ``Authorization`` header: ``Missing Authentication Token``."""

    code = "MissingAuthenticationTokenException"


class IncompleteSignatureException(ServiceError):
    """The ``Authorization`` header (or the date header) is malformed; the message says what is missing."""

    code = "IncompleteSignatureException"


class UnrecognizedClientException(ServiceError):
    """The access key id is unknown: ``The security token included in the request is invalid.``"""

    code = "UnrecognizedClientException"


class InvalidSignatureException(ServiceError):
    """The signature does not match, is expired or not yet current, or its credential scope is wrong."""

    code = "InvalidSignatureException"
