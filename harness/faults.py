"""Faults: declarative, applied into a host's network namespace, each able to undo itself.

A fault sees only the namespace path (and, for the few that need a helper process, the
host's spawn function): never the engine. The registry is explicit; `apply` returns the undo.
Routes go through pyroute2; sysctls through /proc/sys in the namespace; packet drops through an
nftables table given as JSON (structured data, not a command string).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pyroute2 import NetNS
from pyroute2.netlink.exceptions import NetlinkError

from harness.errors import FaultUnsupported, RunError
from harness.nsenter import write_sysctl
from harness.scenario import DropFault, Fault, RouteFault, SysctlFault
from harness.topology import Topology

Undo = Callable[[], None]


@dataclass
class FaultContext:
    """What a fault may touch: namespaces, the address book, and a note for the report."""

    netns: Callable[[str], str]
    topology: Topology
    expand: Callable[[str], str]
    notes: list[str] = field(default_factory=list)


class Applier(Protocol):
    def __call__(self, host: str, fault: Fault, ctx: FaultContext) -> Undo: ...


def netlink_failure(what: str, err: NetlinkError) -> Exception:
    # ENOENT from netlink on a qdisc or route type means the kernel lacks that kind; never
    # swallow it (DESIGN.md).
    return RunError(f"{what}: netlink error {err.code}: {err}")


def apply_route(host: str, fault: Fault, ctx: FaultContext) -> Undo:
    spec: RouteFault = fault.route  # type: ignore[assignment]
    dst = ctx.expand(spec.to)
    dst = dst if "/" in dst else f"{dst}/32"
    path = ctx.netns(host)
    with NetNS(path) as ns:
        try:
            ns.route("replace", dst=dst, type=spec.type)
        except NetlinkError as err:
            raise netlink_failure(f"{spec.type} route to {dst} in {host}", err) from err
    ctx.notes.append(f"{host}: route {spec.type} {dst} (pyroute2)")

    def undo() -> None:
        with NetNS(path) as ns:
            ns.route("del", dst=dst, type=spec.type)

    return undo


def apply_no_default_route(host: str, fault: Fault, ctx: FaultContext) -> Undo:
    path = ctx.netns(host)
    gateway = ctx.topology.gateway(host)
    with NetNS(path) as ns:
        try:
            ns.route("del", dst="default")
        except NetlinkError as err:
            if err.code != 3:  # ESRCH: there was none (the router never has one)
                raise netlink_failure(f"removing the default route of {host}", err) from err
    ctx.notes.append(f"{host}: default route removed (pyroute2)")

    def undo() -> None:
        if gateway:
            with NetNS(path) as ns:
                ns.route("replace", dst="default", gateway=gateway)

    return undo


def apply_sysctl(host: str, fault: Fault, ctx: FaultContext) -> Undo:
    spec: SysctlFault = fault.sysctl  # type: ignore[assignment]
    path = ctx.netns(host)
    try:
        old = write_sysctl(path, spec.key, str(spec.value))
    except FileNotFoundError as err:
        raise FaultUnsupported(
            f"sysctl {spec.key} does not exist in {host}'s network namespace",
            hint="check the name; only net.* keys that are per namespace can be set",
        ) from err
    ctx.notes.append(f"{host}: sysctl {spec.key} = {spec.value} (was {old})")

    def undo() -> None:
        write_sysctl(path, spec.key, old)

    return undo


def nft(netns_path: str, ruleset: dict[str, object]) -> None:
    done = subprocess.run(
        ["nsenter", f"--net={netns_path}", "--", "nft", "-j", "-f", "-"],
        input=json.dumps(ruleset),
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    if done.returncode != 0:
        raise FaultUnsupported(
            f"nftables refused the rule: {done.stderr.strip()}",
            hint="needs nf_tables in the kernel (CONFIG_NF_TABLES) and `apt-get install nftables`",
        )


def drop_match(spec: DropFault, dst: str) -> list[dict[str, object]]:
    def field_is(protocol: str, name: str, value: object) -> dict[str, object]:
        return {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": protocol, "field": name}},
                "right": value,
            }
        }

    exprs = [field_is("ip", "daddr", dst)]
    if spec.what == "tcp-syn":
        # SYN without ACK: the opening segment of a connection, not the server's SYN,ACK.
        flags = {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, {"|": ["syn", "ack"]}]}
        exprs.append({"match": {"op": "==", "left": flags, "right": "syn"}})
    elif spec.what in ("udp", "icmp"):
        exprs.append(
            {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": spec.what}}
        )
    if spec.port is not None:
        proto = "udp" if spec.what == "udp" else "tcp"
        exprs.append(field_is(proto, "dport", spec.port))
    return [*exprs, {"counter": None}, {"drop": None}]


def apply_drop(host: str, fault: Fault, ctx: FaultContext) -> Undo:
    spec: DropFault = fault.drop  # type: ignore[assignment]
    dst = ctx.expand(spec.to)
    table = {"family": "inet", "name": f"socklab_drop{len(ctx.notes)}"}
    commands: list[dict[str, object]] = [{"add": {"table": table}}]
    for hook in ("forward", "output"):
        chain = {**{"table": table["name"], "family": "inet"}, "name": hook}
        commands.append(
            {
                "add": {
                    "chain": {
                        **chain,
                        "type": "filter",
                        "hook": hook,
                        "prio": 0,
                        "policy": "accept",
                    }
                }
            }
        )
        commands.append({"add": {"rule": {**chain, "chain": hook, "expr": drop_match(spec, dst)}}})
    path = ctx.netns(host)
    nft(path, {"nftables": commands})
    ctx.notes.append(f"{host}: drop {spec.what} to {dst} (nftables, table {table['name']})")
    return lambda: nft(path, {"nftables": [{"delete": {"table": table}}]})


REGISTRY: dict[str, Applier] = {
    "route": apply_route,
    "no_default_route": apply_no_default_route,
    "sysctl": apply_sysctl,
    "drop": apply_drop,
}


def apply(fault: Fault, ctx: FaultContext) -> Undo:
    kind = fault.kind()
    applier = REGISTRY.get(kind)
    if applier is None:
        raise FaultUnsupported(f"no applier registered for fault kind {kind!r}")
    return applier(fault.host, fault, ctx)
