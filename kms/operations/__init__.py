"""The KMS operations, one module per group; :class:`kms.service.KMSService` composes them."""
