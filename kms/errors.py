"""Every modeled KMS exception (botocore 1.44.8's ``kms`` model), raised by the operations.

Recorded against AWS (``spec/kms-real-responses.md``): every KMS client error comes back with HTTP 400, whatever
the model's documentation says; a few (``InvalidCiphertextException``, ``KMSInvalidSignatureException``,
``KMSInvalidMacException``) carry no message at all, which ``include_message=False`` reproduces.
"""

from hsmsim.aws.errors import ServiceError


class KMSError(ServiceError):
    """Base of the modeled KMS exceptions (the wire member is ``message``)."""

    status = 400


class AlreadyExistsException(KMSError):
    """The request was rejected because it attempted to create a resource that already exists."""

    code = "AlreadyExistsException"


class CloudHsmClusterInUseException(KMSError):
    """The request was rejected because the specified CloudHSM cluster is already associated with an CloudHSM ..."""

    code = "CloudHsmClusterInUseException"


class CloudHsmClusterInvalidConfigurationException(KMSError):
    """The request was rejected because the associated CloudHSM cluster did not meet the configuration ..."""

    code = "CloudHsmClusterInvalidConfigurationException"


class CloudHsmClusterNotActiveException(KMSError):
    """The request was rejected because the CloudHSM cluster associated with the CloudHSM key store is not active."""

    code = "CloudHsmClusterNotActiveException"


class CloudHsmClusterNotFoundException(KMSError):
    """The request was rejected because KMS cannot find the CloudHSM cluster with the specified cluster ID."""

    code = "CloudHsmClusterNotFoundException"


class CloudHsmClusterNotRelatedException(KMSError):
    """The request was rejected because the specified CloudHSM cluster has a different cluster certificate than ..."""

    code = "CloudHsmClusterNotRelatedException"


class ConflictException(KMSError):
    """The request was rejected because an automatic rotation of this key is currently in progress or scheduled ..."""

    code = "ConflictException"


class CustomKeyStoreHasCMKsException(KMSError):
    """The request was rejected because the custom key store contains KMS keys."""

    code = "CustomKeyStoreHasCMKsException"


class CustomKeyStoreInvalidStateException(KMSError):
    """The request was rejected because of the ConnectionState of the custom key store."""

    code = "CustomKeyStoreInvalidStateException"


class CustomKeyStoreNameInUseException(KMSError):
    """The request was rejected because the specified custom key store name is already assigned to another ..."""

    code = "CustomKeyStoreNameInUseException"


class CustomKeyStoreNotFoundException(KMSError):
    """The request was rejected because KMS cannot find a custom key store with the specified key store name or ID."""

    code = "CustomKeyStoreNotFoundException"


class DependencyTimeoutException(KMSError):
    """The system timed out while trying to fulfill the request."""

    code = "DependencyTimeoutException"


class DisabledException(KMSError):
    """The request was rejected because the specified KMS key is not enabled."""

    code = "DisabledException"


class DryRunOperationException(KMSError):
    """The request was rejected because the DryRun parameter was specified."""

    code = "DryRunOperationException"


class ExpiredImportTokenException(KMSError):
    """The request was rejected because the specified import token is expired."""

    code = "ExpiredImportTokenException"


class IncorrectKeyException(KMSError):
    """The request was rejected because the specified KMS key cannot decrypt the data."""

    code = "IncorrectKeyException"


class IncorrectKeyMaterialException(KMSError):
    """The request was rejected because the key material in the request is, expired, invalid, or does not meet ..."""

    code = "IncorrectKeyMaterialException"


class IncorrectTrustAnchorException(KMSError):
    """The request was rejected because the trust anchor certificate in the request to create an CloudHSM key ..."""

    code = "IncorrectTrustAnchorException"


class InvalidAliasNameException(KMSError):
    """The request was rejected because the specified alias name is not valid."""

    code = "InvalidAliasNameException"


class InvalidArnException(KMSError):
    """The request was rejected because a specified ARN, or an ARN in a key policy, is not valid."""

    code = "InvalidArnException"


class InvalidCiphertextException(KMSError):
    """From the Decrypt or ReEncrypt operation, the request was rejected because the specified ciphertext, or ..."""

    code = "InvalidCiphertextException"
    include_message = False


class InvalidGrantIdException(KMSError):
    """The request was rejected because the specified GrantId is not valid."""

    code = "InvalidGrantIdException"


class InvalidGrantTokenException(KMSError):
    """The request was rejected because the specified grant token is not valid."""

    code = "InvalidGrantTokenException"


class InvalidImportTokenException(KMSError):
    """The request was rejected because the provided import token is invalid or is associated with a different ..."""

    code = "InvalidImportTokenException"


class InvalidKeyUsageException(KMSError):
    """The request was rejected for one of the following reasons:   The KeyUsage value of the KMS key is ..."""

    code = "InvalidKeyUsageException"


class InvalidMarkerException(KMSError):
    """The request was rejected because the marker that specifies where pagination should next begin is not valid."""

    code = "InvalidMarkerException"


class KMSInternalException(KMSError):
    """The request was rejected because an internal exception occurred."""

    code = "KMSInternalException"
    status = 500


class KMSInvalidMacException(KMSError):
    """The request was rejected because the HMAC verification failed."""

    code = "KMSInvalidMacException"
    include_message = False


class KMSInvalidSignatureException(KMSError):
    """The request was rejected because the signature verification failed."""

    code = "KMSInvalidSignatureException"
    include_message = False


class KMSInvalidStateException(KMSError):
    """The request was rejected because the state of the specified resource is not valid for this request."""

    code = "KMSInvalidStateException"


class KeyUnavailableException(KMSError):
    """The request was rejected because the specified KMS key was not available."""

    code = "KeyUnavailableException"


class LimitExceededException(KMSError):
    """The request was rejected because a length constraint or quota was exceeded."""

    code = "LimitExceededException"


class MalformedPolicyDocumentException(KMSError):
    """The request was rejected because the specified policy is not syntactically or semantically correct."""

    code = "MalformedPolicyDocumentException"


class NotFoundException(KMSError):
    """The request was rejected because the specified entity or resource could not be found."""

    code = "NotFoundException"


class TagException(KMSError):
    """The request was rejected because one or more tags are not valid."""

    code = "TagException"


class UnsupportedOperationException(KMSError):
    """The request was rejected because a specified parameter is not supported or a specified resource is not ..."""

    code = "UnsupportedOperationException"


class XksKeyAlreadyInUseException(KMSError):
    """The request was rejected because the (XksKeyId) is already associated with another KMS key in this ..."""

    code = "XksKeyAlreadyInUseException"


class XksKeyInvalidConfigurationException(KMSError):
    """The request was rejected because the external key specified by the XksKeyId parameter did not meet the ..."""

    code = "XksKeyInvalidConfigurationException"


class XksKeyNotFoundException(KMSError):
    """The request was rejected because the external key store proxy could not find the external key."""

    code = "XksKeyNotFoundException"


class XksProxyIncorrectAuthenticationCredentialException(KMSError):
    """The request was rejected because the proxy credentials failed to authenticate to the specified external ..."""

    code = "XksProxyIncorrectAuthenticationCredentialException"


class XksProxyInvalidConfigurationException(KMSError):
    """The request was rejected because the external key store proxy is not configured correctly."""

    code = "XksProxyInvalidConfigurationException"


class XksProxyInvalidResponseException(KMSError):
    """KMS cannot interpret the response it received from the external key store proxy."""

    code = "XksProxyInvalidResponseException"


class XksProxyUriEndpointInUseException(KMSError):
    """The request was rejected because the XksProxyUriEndpoint is already associated with another external key ..."""

    code = "XksProxyUriEndpointInUseException"


class XksProxyUriInUseException(KMSError):
    """The request was rejected because the concatenation of the XksProxyUriEndpoint and XksProxyUriPath is ..."""

    code = "XksProxyUriInUseException"


class XksProxyUriUnreachableException(KMSError):
    """KMS was unable to reach the specified XksProxyUriPath."""

    code = "XksProxyUriUnreachableException"


class XksProxyVpcEndpointServiceInUseException(KMSError):
    """The request was rejected because the specified Amazon VPC endpoint service is already associated with ..."""

    code = "XksProxyVpcEndpointServiceInUseException"


class XksProxyVpcEndpointServiceInvalidConfigurationException(KMSError):
    """The request was rejected because the Amazon VPC endpoint service configuration does not fulfill the ..."""

    code = "XksProxyVpcEndpointServiceInvalidConfigurationException"


class XksProxyVpcEndpointServiceNotFoundException(KMSError):
    """The request was rejected because KMS could not find the specified VPC endpoint service."""

    code = "XksProxyVpcEndpointServiceNotFoundException"


def kms_error_classes() -> dict[str, type[KMSError]]:
    """The exception classes by code (the contract test compares them with the model)."""
    return {cls.code: cls for cls in KMSError.__subclasses__()}
