"""Third-party hosts per function, and egress allow-lists people can apply.

AWS endpoints are set apart (the agent marks them); what is left is the
function's third-party egress: host, port, TLS or plaintext, first and last
seen, connections and failures. Plaintext connections are flagged, and so are
hosts first seen after a baseline date (new-host drift).

The allow-lists come in three forms: a plain domain list; the request body of
Route 53 Resolver DNS Firewall's ``UpdateFirewallDomains`` (for ``aws
route53resolver update-firewall-domains --cli-input-json``; at most 1,000
domains a request, letters, digits, hyphens and dots, an optional leading
``*``); and a Squid ``acl … dstdomain`` allow-list. IP literals cannot be
named in a DNS allow-list: they are listed apart, for a security group or a
network firewall rule instead.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from lambdaguard.analysis.telemetry import TelemetryIndex

__all__ = ["HostRow", "dns_firewall", "domain_list", "host_rows", "squid"]

DNS_FIREWALL_LIMIT: Final = 1000
_DNS_NAME: Final = re.compile(r"^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$")


@dataclass(frozen=True, slots=True)
class HostRow:
    """One third-party (host, port, tls) of one function."""

    function: str
    arn: str
    host: str
    port: int
    tls: bool
    first_seen: datetime
    last_seen: datetime
    count: int
    failures: int
    new: bool  # first seen after the baseline
    proxy: str = ""  # reached through this HTTP proxy ("" when direct)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "function": self.function,
            "arn": self.arn,
            "host": self.host,
            "port": self.port,
            "tls": self.tls,
            "plaintext": not self.tls,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "connections": self.count,
            "failures": self.failures,
            "new_since_baseline": self.new,
            "proxy": self.proxy or None,
        }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def host_rows(
    telemetry: TelemetryIndex,
    *,
    function: str = "",
    since: datetime | None = None,
    baseline: datetime | None = None,
) -> list[HostRow]:
    """Every third-party host of every function (or the one named), sorted."""
    rows: list[HostRow] = []
    for record in telemetry.by_arn.values():
        if function and function not in (record.name, record.arn):
            continue
        for h in record.hosts:
            if h.aws:
                continue
            if since is not None and h.last_seen < since:
                continue
            rows.append(
                HostRow(
                    function=record.name,
                    arn=record.arn,
                    host=h.host,
                    port=h.port,
                    tls=h.tls,
                    first_seen=h.first_seen,
                    last_seen=h.last_seen,
                    count=h.count,
                    failures=h.failures,
                    new=baseline is not None and h.first_seen > baseline,
                    proxy=h.proxy,
                )
            )
    rows.sort(key=lambda r: (r.function, r.host, r.port, r.tls))
    return rows


def _hosts(rows: Iterable[HostRow]) -> tuple[list[str], list[str]]:
    names = sorted({r.host.lower().rstrip(".") for r in rows if not _is_ip(r.host)})
    ips = sorted({r.host for r in rows if _is_ip(r.host)})
    return names, ips


def domain_list(rows: Sequence[HostRow]) -> str:
    """One domain a line; IP literals after a comment."""
    names, ips = _hosts(rows)
    lines = list(names)
    if ips:
        lines.append(
            "# IP addresses (no DNS name: allow them in a security group or firewall rule)"
        )
        lines.extend(f"# {ip}" for ip in ips)
    return "\n".join(lines) + ("\n" if lines else "")


def dns_firewall(rows: Sequence[HostRow], *, list_id: str = "<firewall-domain-list-id>") -> Any:
    """``UpdateFirewallDomains`` request bodies (REPLACE), split at 1,000 domains.

    One body when it fits (the usual case), else a list of bodies: the first
    REPLACEs, the rest ADD.
    """
    names, _ = _hosts(rows)
    valid = [n for n in names if _DNS_NAME.match(n) and len(n) <= 255]
    chunks = [valid[i : i + DNS_FIREWALL_LIMIT] for i in range(0, len(valid), DNS_FIREWALL_LIMIT)]
    bodies = [
        {
            "FirewallDomainListId": list_id,
            "Operation": "REPLACE" if i == 0 else "ADD",
            "Domains": chunk,
        }
        for i, chunk in enumerate(chunks or [[]])
    ]
    return bodies[0] if len(bodies) == 1 else bodies


def squid(rows: Sequence[HostRow], *, acl: str = "lambdaguard_allowed") -> str:
    """A Squid allow-list: the observed hosts allowed, everything else denied."""
    names, ips = _hosts(rows)
    ports = sorted({r.port for r in rows if r.port})
    lines = [
        "# lambdaguard: egress observed from the functions; review before applying",
    ]
    if names:
        lines.append(f"acl {acl} dstdomain {' '.join(names)}")
    if ips:
        lines.append(f"acl {acl}_ip dst {' '.join(ips)}")
    if ports:
        lines.append(f"acl {acl}_ports port {' '.join(str(p) for p in ports)}")
    port_rule = f" {acl}_ports" if ports else ""
    if names:
        lines.append(f"http_access allow {acl}{port_rule}")
    if ips:
        lines.append(f"http_access allow {acl}_ip{port_rule}")
    lines.append("http_access deny all")
    return "\n".join(lines) + "\n"


def as_json(rows: Sequence[HostRow]) -> str:
    """The ``--format json`` document: every row, and the allow-list per function and account."""
    per_function: dict[str, list[str]] = {}
    for r in rows:
        per_function.setdefault(r.function, [])
        if r.host not in per_function[r.function]:
            per_function[r.function].append(r.host)
    names, ips = _hosts(rows)
    return json.dumps(
        {
            "hosts": [r.as_dict() for r in rows],
            "allow_list": {
                "account": names + ips,
                "functions": {k: sorted(v) for k, v in sorted(per_function.items())},
            },
        },
        indent=2,
        sort_keys=True,
    )
