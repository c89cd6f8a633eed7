"""The compose backend: the three hosts as Docker Compose containers on two internal networks.

Compose brings the hosts up from compose.yaml; the Docker SDK only looks containers up and
removes leftovers by label. Each run gets its own project, slot (subnets) and bridge names, and
two DOCKER-USER rules that let the router's forwarded traffic cross Docker's isolation of
internal networks: `-i BR -o BR` matches traffic that stays on one testbed bridge, so it cannot
let anything out (DESIGN.md).
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from pyroute2 import NetlinkError

from ... import shipped
from ...errors import BackendUnavailable, command, sudo_hint
from ...scenario.topology import HOSTS, MAX_SLOTS, NETWORKS, Topology
from .. import cgroups, ipv6
from ..nsenter import rtnl_in
from ..ownership import PREFIX, TAG_ENV
from ..stopping import Teardown
from . import launcher
from .base import (
    OUTBOX_INSIDE,
    Completed,
    Process,
    exec_by_spawn,
    keep_outboxes,
    make_outboxes,
    new_tag,
    popen,
)
from .launcher import compose_command

IMAGE = "socklab-node:1"
LABEL = "socklab.run"
PROGRAMS_DIR = "/opt/socklab/programs"
SOCKET_PATH = "/var/run/docker.sock"
COMPOSE_FILE = shipped.COMPOSE_FILE
PROGRAMS_HOST_DIR = shipped.PROGRAMS
RULE_CHAIN = "DOCKER-USER"
# The chains socklab puts rules in; every rule carries the comment socklab:<run id>.
ISOLATION = "DOCKER-ISOLATION-STAGE-1"
CHAINS = (
    ("iptables", "DOCKER-USER"),
    ("iptables", ISOLATION),
    ("iptables", "INPUT"),
    ("ip6tables", "INPUT"),
)
Rule = tuple[str, str, list[str]]  # (tool, chain, spec)
IPV6 = Path("/proc/net/if_inet6").exists()


def engine_address() -> str:
    """Where the Docker SDK looks for the engine: DOCKER_HOST, else the default socket."""
    return os.environ.get("DOCKER_HOST") or f"unix://{SOCKET_PATH}"


def engine_problem(timeout: float = 3.0) -> str | None:
    """None when an engine answers a ping at engine_address(), else why not: how the
    default backend is chosen (asking, not looking for a file)."""
    try:
        docker.from_env(timeout=timeout).ping()
    except (docker.errors.DockerException, requests.RequestException) as err:
        return f"no Docker engine answered at {engine_address()} ({err})"
    return None


def engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as err:
        raise BackendUnavailable(
            f"no Docker engine answers at {engine_address()}: {err}", hint=engine_hint(err)
        ) from err
    return client


def engine_hint(err: Exception) -> str:
    """What to do: a socket that exists but refuses this user is not a stopped engine."""
    address = engine_address()
    if not address.startswith("unix://"):
        return (
            f"DOCKER_HOST is {address}: check that engine, unset DOCKER_HOST, "
            "or use --backend netns"
        )
    socket = address.removeprefix("unix://")
    if isinstance(err.__context__ or err.__cause__ or err, PermissionError) or (
        "Permission denied" in str(err)
    ):
        return (
            f"the engine runs but {socket} refuses this user: run socklab as root "
            f"({sudo_hint()}), or use --backend netns"
        )
    if not os.path.exists(socket):
        return "start dockerd (systemctl start docker), or use --backend netns"
    return f"{socket} exists but nothing answers: restart dockerd, or use --backend netns"


def project(run_id: str) -> str:
    return f"{PREFIX}{run_id}"


def bridge(run_id: str, network: str) -> str:
    return f"{PREFIX}-{run_id}-{network}"


def rules(run_id: str, network: str) -> list[Rule]:
    """Forwarded traffic that stays on the bridge crosses Docker's isolation (the router's
    job); nothing from the bridge reaches the machine itself. The bridge's gateway address is
    the machine's, and a container with NET_ADMIN could route through it to the machine's
    other addresses: INPUT drops all of it, whatever the destination; for IPv6 too, since the
    bridge and its ports carry link-local addresses even on networks without IPv6."""
    br = bridge(run_id, network)
    owned = ["-m", "comment", "--comment", f"socklab:{run_id}"]
    found = [
        ("iptables", "DOCKER-USER", ["-i", br, "-o", br, *owned, "-j", "ACCEPT"]),
        ("iptables", "INPUT", ["-i", br, *owned, "-j", "DROP"]),
    ]
    if IPV6:
        found.append(("ip6tables", "INPUT", ["-i", br, *owned, "-j", "DROP"]))
    return found


def late_rules(run_id: str, network: str) -> list[Rule]:
    """The same ACCEPT again, at the top of Docker's isolation chain, once the run's networks
    exist (Docker puts each network's DROP rules there at the top). While dockerd creates or
    removes any network it takes the jump to DOCKER-USER out of FORWARD for ~25 ms and puts it
    back; a packet routed across this testbed in that moment met the isolation DROP and was
    lost (a 1 s SYN retransmission in a concurrent run). With this copy it is accepted there."""
    owned = ["-m", "comment", "--comment", f"socklab:{run_id}"]
    br = bridge(run_id, network)
    return [("iptables", ISOLATION, ["-i", br, "-o", br, *owned, "-j", "ACCEPT"])]


def used_slots(client: docker.DockerClient) -> set[int]:
    slots = set()
    for net in client.networks.list(filters={"label": LABEL}):
        for config in (net.attrs.get("IPAM") or {}).get("Config") or []:
            third = int(str(config.get("Subnet", "0.0.0.0/0")).split(".")[2])
            slots.add((third - 1) // len(NETWORKS))
    return slots


class ComposeBackend:
    name = "compose"
    programs_dir = PROGRAMS_DIR
    python = "/usr/bin/python3"

    def __init__(self, run_id: str, rundir: Path, mount: Path | None = None) -> None:
        self.run_id = run_id
        self.rundir = rundir
        self.mount = mount
        self.topology = Topology(0)
        self._client: docker.DockerClient | None = None
        self._compose: list[str] = []
        self._containers: dict[str, str] = {}
        self._pids: dict[str, int] = {}
        self._rules: list[Rule] = []
        self._outboxes: dict[str, Path] = {}
        launcher.start()  # compose imports itself beside the run's own first work

    def check(self) -> docker.DockerClient:
        client = engine()
        if not client.images.list(name=IMAGE):
            raise BackendUnavailable(
                f"the node image {IMAGE} is not built",
                hint=f"{command()} images builds it from Debian packages "
                "(in a source tree: make images)",
            )
        self._compose = compose_command()
        missing = [tool for tool in ("tcpdump", "nsenter") if shutil.which(tool) is None]
        if missing:
            raise BackendUnavailable(
                f"the compose backend needs {', '.join(missing)} on the machine (captures and "
                "the delayer run there, in a host's network namespace)",
                hint="apt-get install tcpdump util-linux (in a source tree: make setup)",
            )
        return client

    def env(self) -> dict[str, str]:
        topo = self.topology
        values = {
            "SOCKLAB_RUN": self.run_id,
            # The user's directory, read-only at its own path; without one, the programs
            # folder again under a path nothing uses (compose needs some source).
            "SOCKLAB_PROGRAMS": str(PROGRAMS_HOST_DIR),
            "SOCKLAB_MOUNT": str(self.mount or PROGRAMS_HOST_DIR),
            "SOCKLAB_MOUNT_AT": str(self.mount or "/opt/socklab/no-user-directory"),
            "SOCKLAB_CLIENT_LAN1": topo.address("client", "lan1"),
            "SOCKLAB_ROUTER_LAN1": topo.address("router", "lan1"),
            "SOCKLAB_ROUTER_LAN2": topo.address("router", "lan2"),
            "SOCKLAB_SERVER_LAN2": topo.address("server", "lan2"),
        }
        for host, path in self._outboxes.items():
            values[f"SOCKLAB_OUTBOX_{host.upper()}"] = str(path)
        for net in NETWORKS:
            key = net.upper()
            values[f"SOCKLAB_{key}_BRIDGE"] = bridge(self.run_id, net)
            values[f"SOCKLAB_{key}_SUBNET"] = str(topo.subnet(net))
            values[f"SOCKLAB_{key}_BRIDGE_IP"] = topo.bridge_host(net)
        return values

    def _compose_run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Compose, in a session of its own (a terminal's Ctrl-C goes to socklab alone). When
        socklab is interrupted meanwhile, compose is let finish first: killed, it left the
        creates it had sent to land after teardown had listed the run's containers (3 of 8
        runs interrupted 0.45 s into `up` kept containers)."""
        argv = [*self._compose, "-p", project(self.run_id), "-f", str(COMPOSE_FILE), *args]
        env = {**os.environ, **self.env()}
        with contextlib.suppress(launcher.Unavailable):  # else compose as a process of its own
            call = launcher.LAUNCHER.call(argv, env)  # made, not sent: nothing runs yet
            try:
                call.send()
                return call.wait(timeout)
            except launcher.Unavailable:
                raise
            except BaseException:
                with Teardown() as finishing:
                    finishing.callback(launcher.finish, call, 60.0)
                raise
        try:
            process = subprocess.Popen(
                argv,
                start_new_session=True,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as failed:
            raise BackendUnavailable(
                f"{argv[0]} cannot start: {failed.strerror}",
                hint="a script's #! interpreter may be missing; `socklab doctor` checks compose",
            ) from failed
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException:
            with Teardown() as finishing:  # further signals are counted, not obeyed
                finishing.callback(finish, process, 60.0)
            raise
        return subprocess.CompletedProcess(argv, process.returncode, out, err)

    def outbox(self, host: str) -> Path:
        return self._outboxes[host]

    def inside(self, host: str, path: Path) -> str:
        return f"{OUTBOX_INSIDE}/{path.relative_to(self._outboxes[host])}"

    def up(self) -> None:
        self._client = client = self.check()
        self._outboxes = make_outboxes(self.rundir, HOSTS, self.run_id)
        taken = used_slots(client)
        free = [slot for slot in range(MAX_SLOTS) if slot not in taken]
        # Runs that start together see the same free slots: each tries them in its own random
        # order (8 runs at once all took the lowest three, and some ran out of attempts).
        random.SystemRandom().shuffle(free)
        last = ""
        for slot in free[:6]:  # another run may grab the same slot between list and create
            self.topology = Topology(slot, self.topology.family)
            # The rules go in before the containers exist, so no moment of theirs reaches the
            # machine; and again on every attempt, since down() after a failed one takes them
            # out (without the ACCEPT, even the client's SYN to the router dies on the bridge).
            self._insert_rules()
            done = self._compose_run("up", "-d", "--no-build")
            if done.returncode == 0:
                try:
                    self._insert_rules(late=True)
                    self._after_up(client)
                except Exception:
                    self.down()
                    raise
                return
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "?"
            self.down()
            if "overlap" not in done.stderr:
                break
        raise BackendUnavailable(f"docker compose up failed: {last}", hint="see `socklab doctor`")

    def _insert_rules(self, late: bool = False) -> None:
        made = [
            rule for net in NETWORKS for rule in (late_rules if late else rules)(self.run_id, net)
        ]
        self._rules += made  # noted first: see NetnsBackend.up
        # A Docker without that chain has no such window to close: late ones may fail.
        apply_rules("-I", made, check=not late)

    def _after_up(self, client: docker.DockerClient) -> None:
        filters = {"label": [f"com.docker.compose.project={project(self.run_id)}"]}
        for container in client.containers.list(filters=filters):
            service = container.labels.get("com.docker.compose.service", "")
            self._containers[service] = container.name
            self._pids[service] = int(container.attrs["State"]["Pid"])
        missing = [host for host in HOSTS if host not in self._pids]
        if missing:
            raise BackendUnavailable(f"compose did not start: {', '.join(missing)}")
        for host in HOSTS:
            self._await_addresses(host)
            self._route(host)
        if self.topology.family == 6:
            ipv6.wire(self.netns, self.topology)

    def _route(self, host: str) -> None:
        """Routes are set from the machine, so no container needs NET_ADMIN: the leaves' default
        goes through the router (internal networks have none), and the router loses the
        default Docker gives it towards the bridge (it has no uplink)."""
        gateway = self.topology.gateway(host)
        with rtnl_in(self.netns(host)) as ns:
            if gateway:
                ns.route("replace", dst="0.0.0.0/0", gateway=gateway)
                return
            try:
                ns.route("del", dst="0.0.0.0/0")  # pyroute2 0.9: "default" fails on del
            except NetlinkError as err:
                if err.code != 3:  # ESRCH: there was none
                    raise

    def _await_addresses(self, host: str, deadline: float = 15.0) -> None:
        """Compose attaches a container's second network after starting it: wait for it."""
        wanted = set(self.topology.addresses(host).values())
        end = time.monotonic() + deadline
        with rtnl_in(self.netns(host)) as ns:
            while True:
                have = {a.get_attr("IFA_ADDRESS") for a in ns.get_addr(family=2)}
                if wanted <= have:
                    return
                if time.monotonic() > end:
                    raise BackendUnavailable(f"{host} never got {sorted(wanted - have)}")
                time.sleep(0.02)

    def down(self) -> None:
        """Compose brought the hosts up; the engine takes them down by the run's label, the
        containers all at once, then the networks (`docker-compose down` spends 0.26 s
        importing itself and stops the containers one by one). The rules go last, once no
        container is left on the bridges."""
        if self._client is not None:
            remove_owned(self._client, self.run_id)
        delete_rules(self._rules)
        self._rules = []
        self._containers, self._pids = {}, {}
        keep_outboxes(self._outboxes)

    def netns(self, host: str) -> str:
        return f"/proc/{self._pids[host]}/ns/net"

    def pid(self, host: str) -> int:
        """The container's first process as the engine started it (a restart changes it)."""
        return self._pids[host]

    def container(self, host: str) -> str:
        return self._containers[host]

    def step_group(self, host: str, step: str) -> cgroups.Group | None:
        """Below the container's own group (its limits are the engine's); the runner removes
        it at teardown, before the container goes."""
        if cgroups.available() is not None:
            return None
        container = cgroups.of_process(self._pids[host])
        return None if container is None else container.child(f"socklab-{step}")

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        stdout: Path,
        stderr: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        caps: Sequence[str] | None = None,
    ) -> Process:
        tag = new_tag(self.run_id)
        full = ["docker", "exec", "-i", "-e", f"{TAG_ENV}={tag}"]
        if cwd:
            full += ["-w", cwd]
        for key, value in (env or {}).items():
            full += ["-e", f"{key}={value}"]
        if user:
            full += ["-u", user]  # a user other than root has no capability at all
        full.append(self._containers[host])
        if caps is not None and not user:
            # The container's own set is small (compose.yaml); a program keeps of it only what
            # its step declares.
            keep = ",".join(["-all", *(f"+{cap}" for cap in caps)])
            full += ["setpriv", f"--bounding-set={keep}", "--inh-caps=-all", "--"]
        full += list(argv)
        return Process(host=host, argv=argv, tag=tag, popen=popen(full, stdout, stderr))

    def owner(self, host: str, user: str) -> tuple[int, int]:
        done = self.exec(host, ["sh", "-c", 'echo "$(id -u "$1") $(id -g "$1")"', "-", user])
        uid, gid = done.stdout.split()
        return int(uid), int(gid)

    def exec(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        user: str | None = None,
        caps: Sequence[str] | None = None,
    ) -> Completed:
        return exec_by_spawn(self, host, argv, timeout=timeout, user=user, caps=caps)


def finish(process: subprocess.Popen[str], timeout: float) -> None:
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def apply_rules(action: str, made: Sequence[Rule], check: bool) -> None:
    """Insert (-I) or delete (-D) rules, one iptables call each."""
    for tool, chain, spec in made:
        iptables([action, chain, *spec], check=check, tool=tool)


def delete_rules(made: Sequence[Rule]) -> None:
    """Delete rules, one iptables-restore per tool: a delete through iptables-nft reads the
    whole ruleset to find its rule (12-28 ms each, 8 a run: 0.13 s of every teardown; one
    restore, ~10 ms). A restore is all or nothing, and fails whole if one rule is already gone
    (an insert that never happened, a clean that came first): then one by one, each on its own."""
    by_tool: dict[str, list[Rule]] = {}
    for rule in made:
        by_tool.setdefault(rule[0], []).append(rule)
    for tool, rules_of in by_tool.items():
        script = "".join(f"-D {chain} {shlex.join(spec)}\n" for _, chain, spec in rules_of)
        done = subprocess.run(
            [f"{tool}-restore", "-w", "10", "--noflush"],
            input=f"*filter\n{script}COMMIT\n",
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        if done.returncode != 0:
            apply_rules("-D", rules_of, check=False)


def iptables(args: list[str], check: bool = True, tool: str = "iptables") -> None:
    # -w: wait for the xtables lock that dockerd and other runs take too, never race them.
    done = subprocess.run(
        [tool, "-w", "10", *args],
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )
    if check and done.returncode != 0:
        raise BackendUnavailable(
            f"{tool} {' '.join(args[:2])} failed: {done.stderr.strip()}",
            hint="the compose backend needs root and Docker's DOCKER-USER chain",
        )


def remove_owned(client: docker.DockerClient, run_id: str) -> list[str]:
    """Remove every container and network labelled with this run, the containers all at once
    and then the networks; return what went."""
    selector: dict[str, Any] = {"label": f"{LABEL}={run_id}"}

    def remove(thing: Any, kind: str, **options: Any) -> str | None:
        with contextlib.suppress(docker.errors.NotFound):
            thing.remove(**options)
            return f"{kind} {thing.name if kind == 'network' else thing.id[:12]}"
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        # sparse: one listing, no inspect per container, which fails on one removed meanwhile
        containers = client.containers.list(all=True, filters=selector, sparse=True)
        gone = list(pool.map(lambda c: remove(c, "container", force=True), containers))
        networks = client.networks.list(filters=selector)
        gone += pool.map(lambda n: remove(n, "network"), networks)
    return [item for item in gone if item]


def owned_runs(client: docker.DockerClient) -> set[str]:
    runs = set()
    # Every run's, while other runs come and go: sparse, or the SDK inspects each container
    # and fails on one that was removed in between (a run of a parallel suite did).
    for container in client.containers.list(all=True, filters={"label": LABEL}, sparse=True):
        runs.add((container.attrs.get("Labels") or {}).get(LABEL, ""))
    for net in client.networks.list(filters={"label": LABEL}):
        runs.add((net.attrs.get("Labels") or {}).get(LABEL, ""))
    return runs - {"", "manual"}


def owned_rules() -> dict[str, list[Rule]]:
    """Run id -> the rules that carry its socklab comment, in every chain socklab uses."""
    runs: dict[str, list[Rule]] = {}
    for tool, chain in CHAINS:
        done = subprocess.run([tool, "-S", chain], capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            words = line.split()
            if len(words) > 2 and words[0] == "-A" and "socklab:" in line:
                comment = words[words.index("--comment") + 1].strip('"')
                spec = [w.strip('"') for w in words[2:]]
                runs.setdefault(comment.split(":", 1)[1], []).append((tool, chain, spec))
    return runs
