"""GenerateMac and VerifyMac.

https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html and API_VerifyMac.html. An algorithm that
does not match the HMAC key spec is InvalidKeyUsageException (recorded, spec 1.11); a wrong MAC is
KMSInvalidMacException without a message, never ``MacValid: false``.
"""

from __future__ import annotations

from typing import Any

from hsmsim.aws.context import RequestContext
from kms.crypto.macs import compute_mac, mac_matches
from kms.crypto.specs import SPECS
from kms.enums import KeyUsage, MacAlgorithm
from kms.errors import InvalidKeyUsageException, KMSInvalidMacException
from kms.keyview import KeyView
from kms.operations.base import OperationsBase


class MacOperations(OperationsBase):
    def _mac_key(self, ctx: RequestContext, key_id: str, operation: str, mac_algorithm: str,
                 grant_tokens: list[str] | None, dry_run: bool | None) -> tuple[KeyView, MacAlgorithm, bytes]:
        self.check_grant_tokens(grant_tokens)
        view = self.key_for(ctx, key_id, operation)
        self.require_usage(view, KeyUsage.GENERATE_VERIFY_MAC, operation)
        algorithm = MacAlgorithm(mac_algorithm)
        if algorithm not in SPECS[view.spec].usages[KeyUsage.GENERATE_VERIFY_MAC]:
            raise InvalidKeyUsageException(
                f"Algorithm {algorithm.value} is incompatible with key spec {view.spec.value}.")
        self.dry_run(dry_run)
        _, material = view.current_material()
        return view, algorithm, material

    def generate_mac(
        self,
        ctx: RequestContext,
        *,
        message: bytes,
        key_id: str,
        mac_algorithm: str,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        view, algorithm, material = self._mac_key(ctx, key_id, "GenerateMac", mac_algorithm, grant_tokens, dry_run)
        mac = compute_mac(material, algorithm, message)
        self.record_use(ctx, view, "GenerateMac")
        return {"Mac": mac, "MacAlgorithm": algorithm.value, "KeyId": view.arn}

    def verify_mac(
        self,
        ctx: RequestContext,
        *,
        message: bytes,
        key_id: str,
        mac_algorithm: str,
        mac: bytes,
        grant_tokens: list[str] | None = None,
        dry_run: bool | None = None,
    ) -> dict[str, Any]:
        view, algorithm, material = self._mac_key(ctx, key_id, "VerifyMac", mac_algorithm, grant_tokens, dry_run)
        if not mac_matches(material, algorithm, message, mac):
            raise KMSInvalidMacException()
        self.record_use(ctx, view, "VerifyMac")
        return {"KeyId": view.arn, "MacValid": True, "MacAlgorithm": algorithm.value}
