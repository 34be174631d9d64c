"""AWS CloudHSM key stores: KMS keys whose key material lives in an hsmsim CloudHSM cluster.

* :mod:`.stores` — the store rows: checks of Create/UpdateCustomKeyStore against the cluster, the list entry,
  the kmsuser password wrapped by the domain key.
* :mod:`.connection` — ConnectCustomKeyStore's sequence against the cluster (on the simulated clock), disconnect,
  the kmsuser session KMS keeps, and the keys' Unavailable state while the store is not CONNECTED.
* :mod:`.backing` — the backing keys: generated in the cluster as kmsuser, AES-GCM inside an HSM's token.
* :mod:`.faults` — connection failures a test injects where AWS would need EC2 (subnets, network).

https://docs.aws.amazon.com/kms/latest/developerguide/keystore-cloudhsm.html (spec/aws-semantics.md §3–§4).
"""
