"""What the cryptographic operations need of a key, as an immutable in-memory snapshot.

A :class:`KeyView` is built from the key's row and its unwrapped material (:mod:`kms.resolver`) and kept in the
:class:`KeyCache`, so Encrypt, Decrypt, GenerateDataKey, Sign, … run without the database or the server lock.
A committed KMS write drops the views of the keys it touched (kms.cachesync; a lifecycle step drops all); a
view also stops being used at ``fresh_until``, the first moment a timer or transition could change the key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hsmsim.hsm import HSMError
from kms.crypto.specs import PrivateKey, load_private_key
from kms.enums import KeyManager, KeySpec, KeyState, KeyUsage, Origin
from kms.errors import KMSInternalException
from kms.grantrules import GrantRule


class SealedMaterials(Mapping[str, bytes]):
    """A key's material by id, still wrapped; unwrapped by the domain key on first use and then kept in memory.

    Knowing which materials exist (``in``) needs no unwrap, so DescribeKey and the checks before any crypto never
    touch the HSM; a material the domain key cannot unwrap is ``KMSInternalException``, AWS's HSM failure.
    """

    def __init__(self, wrapped: Mapping[str, bytes], unwrap: Callable[[str, bytes], bytes]) -> None:
        self._wrapped = dict(wrapped)
        self._unwrap = unwrap
        self._plain: dict[str, bytes] = {}

    def __getitem__(self, material_id: str) -> bytes:
        plain = self._plain.get(material_id)
        if plain is None:
            try:
                plain = self._unwrap(material_id, self._wrapped[material_id])
            except HSMError as error:
                raise KMSInternalException("The key material could not be unwrapped by the KMS domain key.") from error
            self._plain[material_id] = plain
        return plain

    def __contains__(self, material_id: object) -> bool:
        return material_id in self._wrapped

    def __iter__(self) -> Iterator[str]:
        return iter(self._wrapped)

    def __len__(self) -> int:
        return len(self._wrapped)

    def __repr__(self) -> str:  # never print material
        return f"SealedMaterials({list(self._wrapped)})"


class NeedsUnitOfWork(Exception):
    """The request cannot be served from memory: run it in a unit of work under the server lock."""


class NeedsThread(Exception):
    """The request is too heavy for the event loop (RSA private-key work, key-pair generation)."""


@dataclass
class KeyView:
    arn: str
    account_id: str
    region: str
    key_id: str
    spec: KeySpec
    usage: KeyUsage
    origin: Origin
    key_manager: KeyManager
    state: KeyState
    current_material_id: str | None
    materials: Mapping[str, bytes]
    """Material by material id (plaintext only in memory, see SealedMaterials), every version that can still
    decrypt."""
    metadata: dict[str, Any]
    """The KeyMetadata response member."""
    fresh_until: datetime | None
    custom_key_store_id: str | None = None
    hsm_aead: Any = None
    """For an AWS_CLOUDHSM key: AES-GCM inside the cluster's HSMs (kms.keystores.backing.HsmAead); no bytes here."""
    policy: str = ""
    """The key policy (evaluated per caller and operation by kms.resolver)."""
    grants: tuple[GrantRule, ...] = ()
    """The key's grants, as authorizations (kms.grantrules)."""
    allowed: set[tuple[str | None, ...]] = field(default_factory=set, repr=False)
    """(caller account, operation) pairs the policy was found to allow."""
    _aeads: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _private: dict[str, PrivateKey] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # never print material
        return f"KeyView({self.arn}, {self.spec}, {self.state})"

    def aead(self, material_id: str) -> AESGCM:
        if self.hsm_aead is not None:
            return self.hsm_aead  # type: ignore[no-any-return]
        aead = self._aeads.get(material_id)
        if aead is None:
            aead = self._aeads[material_id] = AESGCM(self.materials[material_id])
        return aead

    def current_material(self) -> tuple[str, bytes]:
        if self.current_material_id is None or self.current_material_id not in self.materials:
            raise LookupError(f"{self.arn} has no current key material")
        return self.current_material_id, self.materials[self.current_material_id]

    def private_key(self) -> PrivateKey:
        """The current asymmetric private key (parsed once per view)."""
        material_id, material = self.current_material()
        key = self._private.get(material_id)
        if key is None:
            key = self._private[material_id] = load_private_key(material)
        return key


class KeyCache:
    """Key views and resolved names per (account, region); a committed write drops what it touched
    (kms.cachesync), a lifecycle step everything.

    A reader that loaded a view from the database stores it only if no write committed meanwhile
    (``generation`` unchanged), so a stale view never outlives the write that made it stale.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str, str], KeyView] = {}
        self._names: dict[tuple[str, str, str], str] = {}
        self.generation = 0

    def view(self, account_id: str, region: str, key_id: str) -> KeyView | None:
        return self._views.get((account_id, region, key_id))

    def key_id_of(self, account_id: str, region: str, name: str) -> str | None:
        return self._names.get((account_id, region, name))

    def store(self, generation: int, view: KeyView, names: tuple[str, ...] = ()) -> None:
        with self._lock:
            if generation != self.generation:
                return
            self._views[(view.account_id, view.region, view.key_id)] = view
            for name in names:
                self._names[(view.account_id, view.region, name)] = view.key_id

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._views.clear()
            self._names.clear()

    def forget_backed(self) -> None:
        """Drop the views of AWS_CLOUDHSM keys (a CloudHSM change may have moved, added or removed their HSMs)."""
        with self._lock:
            self.generation += 1
            for scope in [s for s, view in self._views.items() if view.hsm_aead is not None]:
                del self._views[scope]

    def forget(self, families: set[tuple[str, str]], names: bool) -> None:
        """Drop the views of the keys ``families`` names ((account, key id), every region), and the resolved
        alias names if ``names``; a reader that loaded anything meanwhile does not store it."""
        with self._lock:
            self.generation += 1
            for scope in [s for s, view in self._views.items() if (view.account_id, view.key_id) in families]:
                del self._views[scope]
            if names:
                self._names.clear()
