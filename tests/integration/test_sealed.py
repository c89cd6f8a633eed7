"""A host is a sealed box for a program nobody here wrote (issue: sealed testbed).

A hostile program plants symlinks and FIFOs in its outbox (the only place of the machine it can
write) during a live run, for its own records and for steps still to come, and tries to write
the machine's files, reach Docker's socket, signal the harness, change routes and open raw
sockets. Nothing outside the run folder may be read or written, no planted file may become
evidence, and a step keeps only the capabilities it declares. On both backends.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from socklab.pytest_plugin import Socklab

from tests.conftest import BACKENDS
from tests.integration.test_containers import REACH_ALL, machine_addresses, machine_listeners

SECRET = "SECRET-MARKER-4242"
# What the harness would take for evidence if it followed a planted symlink: a strace line (a
# connect to port 4242) and an event.
SECRET_TEXT = (
    "77 1700000000.000000 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(4242), "
    'sin_addr=inet_addr("10.77.2.10")}, 16) = 0 <0.000010>\n'
    f'{{"event": "{SECRET}"}}\n'
)

PLANT = """
out=$(dirname "$SOCKLAB_EVENTS")
secret=$1 sentinel=$2
# its own records, replaced while it runs
rm -f "$out/cmd1.strace" "$out/cmd1.events.jsonl"
ln -s "$secret" "$out/cmd1.strace"
ln -s "$secret" "$out/cmd1.events.jsonl"
# the next steps' records, planted before the harness makes them
ln -s "$secret" "$out/cmd2.strace"
ln -s "$secret" "$out/cmd2.events.jsonl"
mkfifo "$out/cmd3.strace"
ln -s "$sentinel" "$out/cmd3.events.jsonl"
# a set-uid root shell and world-writable places for a local user to find
cp /bin/sh "$out/rootsh" && chmod 04755 "$out/rootsh" && echo SUID-PLANTED
chmod 0777 "$out"
python3 -c 'import os; os.fchmod(1, 0o666); os.fchmod(2, 0o666)'
# the machine's files
echo tampered > "$sentinel" && echo WROTE-SENTINEL
echo tampered > /etc/socklab-sealed-probe && echo WROTE-ETC
echo planted
"""


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A mounted directory (read-only in the hosts), a secret file outside it, a sentinel."""
    mount = tmp_path / "mount"
    mount.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET_TEXT)
    return mount, secret, mount / "sentinel"


def regular_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_planted_symlinks_and_fifos_are_neither_followed_nor_written(
    socklab: Socklab, backend: str, box: tuple[Path, Path, Path], clean_machine: None
) -> None:
    mount, secret, sentinel = box
    with socklab.scenario("refused", backend=backend, mount=mount) as lab:
        planted = lab.run("server", ["sh", "-c", PLANT, "-", str(secret), str(sentinel)])
        assert "planted" in planted.stdout, planted.stderr
        assert "WROTE" not in planted.stdout
        # its own record, replaced by a symlink to the secret: no calls, no events
        assert planted.calls == [] and planted.events == []
        later = lab.run("server", ["python3", "-c", "import socket; socket.socket().close()"])
        fifo = lab.run("server", ["true"], timeout=5)  # a FIFO at its record: no hang
        rundir = lab.rundir
    assert [c.name for c in later.calls if c.name == "socket"] == ["socket"]
    assert all(c.address is None or c.address[1] != 4242 for c in later.calls)
    assert later.events == [] and fifo.exit_code == 0 and not fifo.stopped_by_harness
    assert not sentinel.exists(), "a program wrote the machine's file through its mount"
    assert not Path("/etc/socklab-sealed-probe").exists()
    assert secret.read_text() == SECRET_TEXT
    for path in regular_files(rundir):
        assert SECRET not in path.read_text(errors="replace"), f"the secret reached {path}"
    # the run folder is root's alone, and nothing in it is set-uid or writable by anyone else
    assert "SUID-PLANTED" in planted.stdout
    assert rundir.stat().st_mode & 0o777 == 0o700
    for path in [rundir, *rundir.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            assert not mode & 0o002, f"{path} is world-writable"
            assert not mode & (stat.S_ISUID | stat.S_ISGID), f"{path} is set-uid or set-gid"


PROBES = """
echo x > /etc/socklab-sealed-probe 2>/dev/null && echo WROTE-ETC
ls /run/docker.sock /var/run/docker.sock 2>/dev/null && echo DOCKER-SOCKET
kill -0 "$1" 2>/dev/null && echo SIGNALLED-HARNESS
ip route replace 10.77.250.0/24 dev lo 2>/dev/null && echo CHANGED-ROUTES
python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 6)' 2>/dev/null \
  && echo RAW-SOCKET
python3 -c 'import socket; socket.socket().bind(("0.0.0.0", 13))' 2>/dev/null && echo PORT-13
grep NoNewPrivs /proc/self/status
echo done
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_program_keeps_only_what_its_step_declares(
    socklab: Socklab, backend: str, box: tuple[Path, Path, Path], clean_machine: None
) -> None:
    """No capability by default; `caps:` grants exactly the ones named. The granted run is the
    counterfactual: the same probes do succeed where allowed, so their failure means something."""
    mount, _, _ = box
    harness = str(os.getpid())
    with socklab.scenario("refused", backend=backend, mount=mount) as lab:
        bare = lab.run("server", ["sh", "-c", PROBES, "-", harness])
        granted = lab.run(
            "server", ["sh", "-c", PROBES, "-", harness], caps=["net_raw", "net_bind_service"]
        )
    assert "done" in bare.stdout, bare.stderr
    for marker in ("WROTE-ETC", "DOCKER-SOCKET", "SIGNALLED-HARNESS", "CHANGED-ROUTES"):
        assert marker not in bare.stdout and marker not in granted.stdout
    assert "RAW-SOCKET" not in bare.stdout and "RAW-SOCKET" in granted.stdout
    assert "PORT-13" in granted.stdout
    if backend == "netns":  # a new namespace starts at 1024; Docker sets 0 in a container
        assert "PORT-13" not in bare.stdout


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_host_reaches_any_address_of_the_machine(
    socklab: Socklab, backend: str, box: tuple[Path, Path, Path], clean_machine: None
) -> None:
    """From each host, a program connects (TCP) and sends (UDP) to every address of the
    machine (loopback aside: each host has its own) where the test listens: nothing arrives.
    On netns the hosts have no link to the machine; on compose the bridges' INPUT rule drops
    it (test_containers also routes a container through the bridge)."""
    mount, _, _ = box
    tcp, udp = machine_listeners()
    ports = [str(tcp.getsockname()[1]), str(udp.getsockname()[1])]
    try:
        with socklab.scenario("refused", backend=backend, mount=mount) as lab:
            for host in ("client", "router", "server"):
                done = lab.run(host, ["python3", "-c", REACH_ALL, *ports, *machine_addresses()])
                assert done.stdout.strip() == "reached:", f"{host}: {done.stdout}{done.stderr}"
        with pytest.raises(TimeoutError):
            udp.recvfrom(64)
    finally:
        tcp.close()
        udp.close()
