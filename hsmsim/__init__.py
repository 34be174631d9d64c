"""hsmsim: a local simulator of AWS CloudHSM v2 and AWS KMS whose HSMs are real SoftHSMv2 tokens."""

__version__ = "0.1.0"
