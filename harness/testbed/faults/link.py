"""Link faults: loss, delay, jitter, rate, reorder, duplicate, corrupt on a host's interface.

The capability probe decides the mechanism at run time, per impairment:
- sch_netem present (GitHub's runners): one netem qdisc, through pyroute2, does everything.
- no sch_netem (this machine, many minimal kernels): loss -> nftables `numgen random` in the
  same namespace; delay and jitter -> an NFQUEUE delayer process (harness/programs/nfqdelay.py)
  in the host that owns the link, fed by an xtables NFQUEUE rule; rate -> tbf. Reorder,
  duplicate, corrupt and loss correlation have no fallback: the run stops before anything runs
  and names CONFIG_NET_SCH_NETEM.
Faults shape egress: put them on the router's interface towards each side to shape each
direction (the sender's own qdisc would push drops back into the application, DESIGN.md).
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import NetNS
from pyroute2.netlink.exceptions import NetlinkError

from ...errors import FaultUnsupported, RunError
from ...scenario.model import Fault, LinkFault
from ..backends.base import MACHINE_PYTHON
from ..nsenter import interface_on, run_in
from ..probe import Capabilities, probe
from ..stopping import Teardown
from .base import FaultContext, Undo, nft

NETEM_ONLY = ("reorder", "duplicate", "corrupt", "loss_correlation")
MISSING_NETEM = (
    "this kernel has no sch_netem (CONFIG_NET_SCH_NETEM), and {what} has no fallback",
    "load it with `modprobe sch_netem` (package linux-modules-extra-$(uname -r) on Ubuntu), "
    "or drop {what} from the scenario; loss, delay, jitter and rate work without it",
)
_queues = itertools.count(10)


@dataclass(frozen=True)
class Plan:
    """Which mechanism applies which impairment; shown in the report."""

    netem: tuple[str, ...] = ()
    nftables_loss: bool = False
    nfqueue_delay: bool = False
    tbf_rate: bool = False

    def describe(self) -> str:
        parts = []
        if self.netem:
            parts.append(f"netem via pyroute2 ({', '.join(self.netem)})")
        if self.nftables_loss:
            parts.append("nftables numgen (loss)")
        if self.nfqueue_delay:
            parts.append("NFQUEUE delayer (delay, jitter)")
        if self.tbf_rate:
            parts.append("tbf (rate)")
        return " + ".join(parts)


def asked(spec: LinkFault) -> list[str]:
    names = (
        "loss",
        "loss_correlation",
        "delay",
        "jitter",
        "rate",
        "reorder",
        "duplicate",
        "corrupt",
    )
    return [name for name in names if getattr(spec, name) is not None]


def plan(spec: LinkFault, caps: Capabilities) -> Plan:
    """Choose mechanisms; pure, so tests cover both kinds of kernel without either."""
    wanted = asked(spec)
    if not wanted:
        raise FaultUnsupported("a link fault needs at least one impairment (loss, delay ...)")
    if caps.netem:
        return Plan(netem=tuple(wanted))
    blocked = [name for name in wanted if name in NETEM_ONLY]
    if blocked:
        what = ", ".join(blocked)
        raise FaultUnsupported(
            MISSING_NETEM[0].format(what=what), MISSING_NETEM[1].format(what=what)
        )
    delay = spec.delay is not None or spec.jitter is not None
    for needed, have, feature in (
        (spec.loss is not None, caps.nftables, "nf_tables with numgen (CONFIG_NFT_NUMGEN)"),
        (delay, caps.nfqueue, "NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE, xt_NFQUEUE)"),
        (spec.rate is not None, caps.tbf, "sch_tbf (CONFIG_NET_SCH_TBF)"),
    ):
        if needed and not have:
            raise FaultUnsupported(
                f"no sch_netem (CONFIG_NET_SCH_NETEM) and no fallback: missing {feature}",
                "load sch_netem, or the module named",
            )
    return Plan(
        nftables_loss=spec.loss is not None,
        nfqueue_delay=delay,
        tbf_rate=spec.rate is not None,
    )


def netem_options(spec: LinkFault) -> dict[str, object]:
    options: dict[str, object] = {}
    if spec.delay is not None:
        options["delay"] = int(spec.delay * 1000)  # pyroute2 takes microseconds
    if spec.jitter is not None:
        options["jitter"] = int(spec.jitter * 1000)
    if spec.loss is not None:
        options["loss"] = spec.loss
    if spec.loss_correlation is not None:
        options["loss_corr"] = spec.loss_correlation
    if spec.duplicate is not None:
        options["duplicate"] = spec.duplicate
    if spec.reorder is not None:
        options["prob_reorder"] = spec.reorder
    if spec.corrupt is not None:
        options["prob_corrupt"] = spec.corrupt
    if spec.rate is not None:
        options["rate"] = spec.rate
    return options


def root_qdisc(netns: str, iface: str, kind: str, **options: object) -> Undo:
    """`replace`, not `add`: a stale qdisc from a crashed run cannot wedge this one."""
    with NetNS(netns) as ns:
        index = ns.link_lookup(ifname=iface)[0]
        try:
            ns.tc("replace", kind, index=index, handle="1:", **options)
        except NetlinkError as err:
            if err.code == 2:  # ENOENT: the qdisc kind is missing; never swallow it
                raise FaultUnsupported(f"the kernel has no sch_{kind}") from err
            raise RunError(f"tc {kind} on {iface}: {err}") from err

    def undo() -> None:
        with NetNS(netns) as ns:
            ns.tc("del", index=index, handle="1:", root=True)

    return undo


def nft_loss(netns: str, iface: str, percent: float, table: str) -> Undo:
    # numgen draws 0..9999 per packet; dropping below percent*100 gives 0.01 % resolution.
    threshold = round(percent * 100)
    mod = {"numgen": {"mode": "random", "mod": 10000}}
    rule = [
        {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": iface}},
        # numgen's values are 0..9999, so 100 % is a plain drop (10000 is out of its range)
        *([{"match": {"op": "<", "left": mod, "right": threshold}}] if threshold < 10000 else []),
        {"counter": None},
        {"drop": None},
    ]
    ident = {"family": "inet", "name": table}
    chain = {"family": "inet", "table": table, "name": "egress"}
    nft(
        netns,
        {
            "nftables": [
                {"add": {"table": ident}},
                {
                    "add": {
                        "chain": {
                            **chain,
                            "type": "filter",
                            "hook": "postrouting",
                            "prio": 0,
                            "policy": "accept",
                        }
                    }
                },
                {"add": {"rule": {**chain, "chain": "egress", "expr": rule}}},
            ]
        },
    )
    return lambda: nft(netns, {"nftables": [{"delete": {"table": ident}}]})


def iptables_in(netns: str, args: list[str], tool: str = "iptables") -> None:
    done = run_in(netns, [tool, *args])
    if done.returncode != 0:
        raise FaultUnsupported(
            f"{tool} {' '.join(args)}: {done.stderr.strip()}",
            "the NFQUEUE fallback needs iptables and xt_NFQUEUE",
        )


def nfqueue_delay(
    ctx: FaultContext, host: str, iface: str, spec: LinkFault, undos: list[Undo]
) -> None:
    """The delayer on the machine in the host's namespace, and the rule that queues to it;
    each undo is noted as soon as what it undoes exists (a signal while the delayer started
    left it running, re-parented to init, after the run said all was removed)."""
    queue = next(_queues)
    netns = ctx.netns(host)
    ready = ctx.rundir / f"nfqdelay-{host}-{iface}.ready"
    argv = [
        MACHINE_PYTHON,
        f"{ctx.programs_dir}/nfqdelay.py",
        "--queue",
        str(queue),
        "--delay-ms",
        str(spec.delay or 0),
        "--jitter-ms",
        str(spec.jitter or 0),
        "--ready-file",
        str(ready),
    ]
    log = ctx.rundir / f"nfqdelay-{host}-{iface}"
    process = ctx.spawn(host, argv, stdout=Path(f"{log}.stdout"), stderr=Path(f"{log}.stderr"))
    ctx.keepers[process.popen.pid] = f"delay on {host} {iface}"

    def stop_delayer() -> None:
        process.stop()

    undos.append(stop_delayer)
    deadline = time.monotonic() + 10
    while not ready.exists():
        if process.popen.poll() is not None or time.monotonic() > deadline:
            raise RunError(
                f"the NFQUEUE delayer did not start in {host}: "
                f"{Path(f'{log}.stderr').read_text(errors='replace').strip()[-300:]}"
            )
        time.sleep(0.01)
    # --queue-bypass: if the delayer dies, packets flow undelayed instead of being dropped.
    rule = [
        "-t",
        "mangle",
        "-A",
        "POSTROUTING",
        "-o",
        iface,
        "-j",
        "NFQUEUE",
        "--queue-num",
        str(queue),
        "--queue-bypass",
    ]
    # IPv6 runs queue IPv6 too (a queue takes both families since Linux 3.8)
    tools = ["iptables", "ip6tables"] if ctx.topology.family == 6 else ["iptables"]
    for tool in tools:
        iptables_in(netns, rule, tool)
        undos.append(functools.partial(iptables_in, netns, ["-t", "mangle", "-D", *rule[3:]], tool))


def apply_link(host: str, fault: Fault, ctx: FaultContext) -> Undo:
    spec: LinkFault = fault.link  # type: ignore[assignment]
    if spec.direction != "egress":
        raise FaultUnsupported(
            "only egress link faults are implemented",
            "shape the other direction on the router's other interface",
        )
    chosen = plan(spec, probe())
    netns = ctx.netns(host)
    iface = interface_on(netns, ctx.topology.subnet(spec.network))
    undos: list[Undo] = []
    try:
        if chosen.netem:
            undos.append(root_qdisc(netns, iface, "netem", **netem_options(spec)))
        if chosen.tbf_rate:
            undos.append(
                root_qdisc(netns, iface, "tbf", rate=spec.rate, burst=32000, latency=100000)
            )
        if chosen.nftables_loss and spec.loss is not None:
            undos.append(nft_loss(netns, iface, spec.loss, f"socklab_loss_{iface}"))
        if chosen.nfqueue_delay:
            nfqueue_delay(ctx, host, iface, spec, undos)
    except BaseException:  # a Ctrl-C too: what was made goes, and no signal stops that
        with Teardown() as undoing:
            for undo in undos:
                undoing.callback(undo)  # run last first
        raise
    ctx.notes.append(
        f"{host} {iface} ({spec.network}) egress {describe(spec)}: {chosen.describe()}"
    )
    ctx.mechanisms.append(
        {
            "host": host,
            "network": spec.network,
            "mechanism": chosen.describe(),
            "asked": json.loads(spec.model_dump_json(exclude_none=True)),
        }
    )

    def undo_all() -> None:
        for undo in reversed(undos):
            undo()

    return undo_all


def describe(spec: LinkFault) -> str:
    units = {
        "delay": " ms",
        "jitter": " ms",
        "loss": " %",
        "reorder": " %",
        "duplicate": " %",
        "corrupt": " %",
        "loss_correlation": " %",
        "rate": "",
    }
    return ", ".join(f"{name} {getattr(spec, name)}{units[name]}" for name in asked(spec))
