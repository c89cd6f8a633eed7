"""The pytest plugin as a user's test suite uses it: the `socklab` fixture (entry point
pytest11), a lab from a scenario, a program of one's own run in it, its calls and packets."""

from __future__ import annotations

import pytest
from socklab.pytest_plugin import Socklab
from socklab.shipped import PROGRAMS

from tests.conftest import BACKENDS, ROOT, everything, leftovers

C = ROOT / "harness" / "programs" / "c" / "bin"


@pytest.mark.parametrize("backend", BACKENDS)
def test_my_client_reports_refused(socklab: Socklab, backend: str, clean_machine: None) -> None:
    with socklab.scenario("refused", backend=backend, mount=C) as lab:
        ran = lab.run("client", ["./daytimetcpcli", lab.address("server")])
        assert ran.exit_code == 1
        assert "connect error: Connection refused" in ran.stderr
        connect = ran.call("connect")
        assert connect is not None and connect.errno == "ECONNREFUSED"
        assert connect.address == (lab.address("server"), 13)
        assert lab.packets(link="lan1", flags="R.", from_="server")
        assert not lab.packets(link="lan1", flags="S.")


def test_a_lab_keeps_the_scenarios_faults(socklab: Socklab, clean_machine: None) -> None:
    with socklab.scenario("timeout", backend="netns", mount=C) as lab:
        # the scenario's tcp_syn_retries 2 and the router's SYN drop, no step of its own
        ran = lab.run("client", ["./daytimetcpcli", lab.address("server")], timeout=15)
        connect = ran.call("connect")
        assert connect is not None and connect.errno == "ETIMEDOUT"
        assert not lab.packets(link="lan2", proto="tcp")


def test_a_failing_test_still_tears_the_lab_down(socklab: Socklab, clean_machine: None) -> None:
    with pytest.raises(AssertionError, match="the user's assertion"):  # noqa: SIM117
        with socklab.scenario("refused", backend="netns") as lab:
            lab.run("server", ["sleep", "30"], background=True)
            assert everything(), "the lab is up"
            raise AssertionError("the user's assertion")
    assert leftovers() == []


def test_what_the_harness_caused_is_no_packet_of_the_program(
    socklab: Socklab, clean_machine: None
) -> None:
    """A client that never closes is stopped at its deadline; the FIN its kernel then sends is
    the harness's doing: left out, as `socklab run` leaves it out, unless asked for. `{server}`
    in a command is filled as in a scenario's args."""
    hold = "import socket,sys,time; s=socket.create_connection((sys.argv[1], 9877)); time.sleep(60)"
    with socklab.scenario("tcp-echo", backend="netns") as lab:
        server = ["python3", str(PROGRAMS / "tcpserv01.py")]  # netns: the machine's path
        lab.run("server", server, background=True, ready={"tcp": 9877})
        ran = lab.run("client", ["python3", "-c", hold, "{server}"], timeout=1.5)
        assert ran.stopped_by_harness
        connect = ran.call("connect")
        assert connect is not None and connect.address == (lab.address("server"), 9877)
        fins = {"link": "lan1", "proto": "tcp", "from_": "client", "flags": "F."}
        assert lab.packets(**fins) == []
        assert lab.packets(harness_caused=True, **fins), "the teardown's FIN was captured"
