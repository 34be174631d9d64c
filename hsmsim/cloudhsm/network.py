"""Simulated VPC networking: subnets, Availability Zones, ENI addresses.

hsmsim has no EC2, so any well-formed ``subnet-…`` id is accepted and its place is derived from the id itself,
stably, in the region of the request:

* **Availability Zone**: if the id ends in a letter ``a``-``f``, that letter is the zone suffix
  (``subnet-0123456789abcdef0a`` → ``us-east-1a``); an id ending in a digit ``d`` is in zone ``"abc"[d % 3]``.
  So a user picks zones by the last character of the subnet ids they invent.
* **VPC**: every subnet of an account and region belongs to that account's one simulated VPC.
* **CIDR**: each subnet is a ``/24`` in ``10.0.0.0/8`` derived from a hash of the id; HSM ENIs take free
  addresses from it (``.4`` upward: AWS reserves the first four and the last).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Iterable

_ZONE_LETTERS = "abcdef"


def availability_zone(region: str, subnet_id: str) -> str:
    last = subnet_id[-1].lower()
    letter = last if last in _ZONE_LETTERS else "abc"[int(last) % 3]
    return f"{region}{letter}"


def vpc_id(account_id: str, region: str) -> str:
    return "vpc-" + hashlib.sha256(f"vpc:{account_id}:{region}".encode()).hexdigest()[:17]


def subnet_network(subnet_id: str) -> ipaddress.IPv4Network:
    digest = hashlib.sha256(f"subnet:{subnet_id}".encode()).digest()
    return ipaddress.IPv4Network(f"10.{digest[0]}.{digest[1]}.0/24")


def subnet_ipv6_network(subnet_id: str) -> ipaddress.IPv6Network:
    digest = hashlib.sha256(f"subnet6:{subnet_id}".encode()).hexdigest()
    return ipaddress.IPv6Network(f"2600:1f18:{digest[:4]}:{digest[4:8]}::/64")


def usable_addresses(subnet_id: str) -> list[str]:
    hosts = list(subnet_network(subnet_id).hosts())
    return [str(h) for h in hosts[3:-1]]


def allocate_address(subnet_id: str, taken: Iterable[str]) -> str:
    """The lowest free address of the subnet; ``ValueError`` when it is full."""
    used = set(taken)
    for address in usable_addresses(subnet_id):
        if address not in used:
            return address
    raise ValueError(f"subnet {subnet_id} has no free IP addresses")


def check_address(subnet_id: str, address: str, taken: Iterable[str]) -> None:
    """``ValueError`` with the reason unless ``address`` is a free usable address of the subnet."""
    network = subnet_network(subnet_id)
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"IP address {address} is not a valid IPv4 address") from None
    if ip not in network:
        raise ValueError(f"IP address {address} is not in the CIDR block {network} of subnet {subnet_id}")
    if address not in usable_addresses(subnet_id):
        raise ValueError(f"IP address {address} is reserved in subnet {subnet_id}")
    if address in set(taken):
        raise ValueError(f"IP address {address} is already in use in subnet {subnet_id}")


def random_ipv6(subnet_id: str) -> str:
    network = subnet_ipv6_network(subnet_id)
    return str(network.network_address + secrets.randbelow(2**63) + 1)
