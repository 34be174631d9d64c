"""The KMS service of hsmsim (its operations land with the KMS issue)."""
