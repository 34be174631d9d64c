"""Pure cryptography of the KMS service (no I/O, no AWS state): key specs, materials, ciphertext blobs."""
