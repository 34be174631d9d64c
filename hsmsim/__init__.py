"""hsmsim: a local simulator of AWS CloudHSM v2 and AWS KMS whose HSMs are real SoftHSMv2 tokens."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``hsmsim.connect`` (:mod:`hsmsim.pkcs11_app`), imported only when used: importing hsmsim loads no PKCS#11."""
    if name == "connect":
        from hsmsim.pkcs11_app import connect

        return connect
    raise AttributeError(f"module 'hsmsim' has no attribute {name!r}")
