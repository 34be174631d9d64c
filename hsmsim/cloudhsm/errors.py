"""The error shapes of the CloudHSM v2 model (their message member is ``Message``)."""

from hsmsim.aws.errors import ServiceError


class CloudHsmAccessDeniedException(ServiceError):
    code = "CloudHsmAccessDeniedException"


class CloudHsmInternalFailureException(ServiceError):
    code = "CloudHsmInternalFailureException"
    status = 500


class CloudHsmInvalidRequestException(ServiceError):
    code = "CloudHsmInvalidRequestException"


class CloudHsmResourceLimitExceededException(ServiceError):
    code = "CloudHsmResourceLimitExceededException"


class CloudHsmResourceNotFoundException(ServiceError):
    code = "CloudHsmResourceNotFoundException"


class CloudHsmServiceException(ServiceError):
    code = "CloudHsmServiceException"


class CloudHsmTagException(ServiceError):
    code = "CloudHsmTagException"
