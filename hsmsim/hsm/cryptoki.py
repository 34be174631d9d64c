"""
A small ctypes shim over the few Cryptoki calls python-pkcs11 0.10.1 does not offer, or offers badly.

``ctypes.CDLL`` of the path python-pkcs11 already loaded returns the same ``dlopen`` handle, so these
calls drive the same SoftHSM singleton (softhsm-facts.md §3).

* ``initialize_os_locking``: python-pkcs11 calls ``C_Initialize(NULL)``, which makes SoftHSM disable
  all its mutexes; several threads then crash the process. We finalise and re-initialise with
  ``CKF_OS_LOCKING_OK`` (softhsm-facts.md §7). Must be redone after every finalisation.
* ``init_token``: python-pkcs11 has no C_InitToken wrapper (§3).
* ``login``: ``Token.open(user_pin=...)`` leaks its session when C_Login fails (§4), so we log in on a
  session we opened ourselves and can close.

PINs pass through as bytes and never appear in an exception message.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, byref, c_char_p, c_ulong, c_void_p

from .errors import HSMError

CKF_OS_LOCKING_OK = 0x00000002
CKU_SO = 0
CKU_USER = 1

CKR_OK = 0x000
CKR_CRYPTOKI_NOT_INITIALIZED = 0x190
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191

_CKR_NAMES = {
    0x005: "CKR_GENERAL_ERROR",
    0x007: "CKR_ARGUMENTS_BAD",
    0x030: "CKR_DEVICE_ERROR",
    0x0A0: "CKR_PIN_INCORRECT",
    0x0A2: "CKR_PIN_LEN_RANGE",
    0x0A4: "CKR_PIN_LOCKED",
    0x0B3: "CKR_SESSION_EXISTS",
    0x0B7: "CKR_SESSION_READ_ONLY_EXISTS",
    0x0B8: "CKR_SESSION_READ_WRITE_SO_EXISTS",
    0x0E0: "CKR_TOKEN_NOT_PRESENT",
    0x100: "CKR_USER_ALREADY_LOGGED_IN",
    0x101: "CKR_USER_NOT_LOGGED_IN",
    0x102: "CKR_USER_PIN_NOT_INITIALIZED",
    0x104: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
    0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED",
}


class CryptokiError(HSMError):
    """A Cryptoki call made through the shim returned something other than CKR_OK."""

    def __init__(self, function: str, rv: int) -> None:
        self.function = function
        self.rv = rv
        super().__init__(f"{function} failed: {_CKR_NAMES.get(rv, 'CKR')} (0x{rv:X})")


class _InitArgs(Structure):
    _fields_ = [
        ("CreateMutex", c_void_p),
        ("DestroyMutex", c_void_p),
        ("LockMutex", c_void_p),
        ("UnlockMutex", c_void_p),
        ("flags", c_ulong),
        ("pReserved", c_void_p),
    ]


class Cryptoki:
    """Direct calls into the PKCS#11 module (CK_ULONG is ``unsigned long``, as on LP64 Linux)."""

    def __init__(self, module_path: str) -> None:
        dll = ctypes.CDLL(module_path)
        dll.C_Initialize.argtypes = [POINTER(_InitArgs)]
        dll.C_Finalize.argtypes = [c_void_p]
        dll.C_InitToken.argtypes = [c_ulong, c_char_p, c_ulong, c_char_p]
        dll.C_Login.argtypes = [c_ulong, c_ulong, c_char_p, c_ulong]
        dll.C_Logout.argtypes = [c_ulong]
        dll.C_CloseAllSessions.argtypes = [c_ulong]
        for name in ("C_Initialize", "C_Finalize", "C_InitToken", "C_Login", "C_Logout",
                     "C_CloseAllSessions"):
            getattr(dll, name).restype = c_ulong
        self._dll = dll

    def finalize(self) -> None:
        """C_Finalize; ends every session and login. Not being initialised is fine."""
        rv = self._dll.C_Finalize(None)
        if rv not in (CKR_OK, CKR_CRYPTOKI_NOT_INITIALIZED):
            raise CryptokiError("C_Finalize", rv)

    def initialize_os_locking(self) -> None:
        """C_Finalize then C_Initialize with CKF_OS_LOCKING_OK (softhsm-facts.md §7)."""
        self.finalize()
        args = _InitArgs(None, None, None, None, CKF_OS_LOCKING_OK, None)
        rv = self._dll.C_Initialize(byref(args))
        if rv != CKR_OK:
            raise CryptokiError("C_Initialize", rv)

    def init_token(self, slot_id: int, so_pin: bytes, label32: bytes) -> None:
        """C_InitToken on ``slot_id``; ``label32`` is the blank-padded 32-byte label."""
        rv = self._dll.C_InitToken(slot_id, so_pin, len(so_pin), label32)
        if rv != CKR_OK:
            raise CryptokiError("C_InitToken", rv)

    def login(self, session_handle: int, user_type: int, pin: bytes) -> None:
        """C_Login on a session the caller owns (and closes itself on failure)."""
        rv = self._dll.C_Login(session_handle, user_type, pin, len(pin))
        if rv != CKR_OK:
            raise CryptokiError("C_Login", rv)

    def logout(self, session_handle: int) -> None:
        rv = self._dll.C_Logout(session_handle)
        if rv != CKR_OK:
            raise CryptokiError("C_Logout", rv)

    def close_all_sessions(self, slot_id: int) -> None:
        """C_CloseAllSessions; closing a token's last session also ends its login."""
        rv = self._dll.C_CloseAllSessions(slot_id)
        if rv != CKR_OK:
            raise CryptokiError("C_CloseAllSessions", rv)
