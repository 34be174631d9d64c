"""
Exceptions of the HSM layer.

The layer knows nothing about AWS: callers map these to service errors. PKCS#11 errors raised by
python-pkcs11 inside a ``SoftHSM.session()`` block are *not* wrapped; they reach the caller as
``pkcs11.exceptions.PKCS11Error`` subclasses.
"""

from __future__ import annotations


class HSMError(Exception):
    """Base class of every error raised by :mod:`hsmsim.hsm`."""


class TokenNotFound(HSMError):
    """No token with that serial is present (never created, or deleted)."""


class TokenCreationError(HSMError):
    """A token could not be created or restored; nothing was left behind on disk."""


class TokenFormatError(HSMError):
    """A token directory or object file does not follow SoftHSM 2.6.1's file format."""
