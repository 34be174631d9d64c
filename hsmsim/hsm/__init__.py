"""
The HSM layer: SoftHSMv2 tokens driven through PKCS#11 and their files. It knows nothing about AWS.

See :mod:`hsmsim.hsm.softhsm` for the design and /work/shared/design/softhsm-facts.md for the
measurements it rests on.
"""

from .errors import HSMError, TokenCreationError, TokenFormatError, TokenNotFound
from .softhsm import SoftHSM

__all__ = ["HSMError", "SoftHSM", "TokenCreationError", "TokenFormatError", "TokenNotFound"]
