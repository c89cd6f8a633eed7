"""Route, sysctl and drop faults: routes through pyroute2, sysctls through /proc/sys in the
namespace, drops through an nftables table given as JSON (data, not a command string)."""

from __future__ import annotations

from pyroute2 import NetNS
from pyroute2.netlink.exceptions import NetlinkError

from ...errors import FaultUnsupported, RunError
from ...scenario.model import DropFault, Fault, RouteFault, SysctlFault
from ..nsenter import write_sysctl
from .base import FaultContext, Undo, nft


def netlink_failure(what: str, err: NetlinkError) -> Exception:
    # ENOENT from netlink on a qdisc or route type means the kernel lacks that kind; never
    # swallow it (DESIGN.md).
    return RunError(f"{what}: netlink error {err.code}: {err}")


def apply_route(host: str, fault: Fault, ctx: FaultContext) -> Undo:
    spec: RouteFault = fault.route  # type: ignore[assignment]
    dst = ctx.expand(spec.to)
    dst = dst if "/" in dst else f"{dst}/{128 if ':' in dst else 32}"
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
    gateway6 = ctx.topology.gateway6(host) if ctx.topology.family == 6 else None
    with NetNS(path) as ns:
        for everywhere in ("0.0.0.0/0", "::/0") if ctx.topology.family == 6 else ("0.0.0.0/0",):
            try:
                ns.route("del", dst=everywhere)  # pyroute2 0.9: "default" fails on del
            except NetlinkError as err:
                if err.code != 3:  # ESRCH: there was none (the router never has one)
                    raise netlink_failure(f"removing the default route of {host}", err) from err
    ctx.notes.append(f"{host}: default route removed (pyroute2)")

    def undo() -> None:
        with NetNS(path) as ns:
            if gateway:
                ns.route("replace", dst="0.0.0.0/0", gateway=gateway)
            if gateway6:
                ns.route("replace", dst="::/0", gateway=gateway6)

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


def drop_match(spec: DropFault, dst: str) -> list[dict[str, object]]:
    def field_is(protocol: str, name: str, value: object) -> dict[str, object]:
        return {
            "match": {
                "op": "==",
                "left": {"payload": {"protocol": protocol, "field": name}},
                "right": value,
            }
        }

    six = ":" in dst
    exprs = [field_is("ip6" if six else "ip", "daddr", dst)]
    if spec.what == "tcp-syn":
        # SYN without ACK: the opening segment of a connection, not the server's SYN,ACK.
        flags = {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, {"|": ["syn", "ack"]}]}
        exprs.append({"match": {"op": "==", "left": flags, "right": "syn"}})
    elif spec.what in ("udp", "icmp"):
        l4: str = "ipv6-icmp" if six and spec.what == "icmp" else spec.what
        exprs.append({"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": l4}})
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
