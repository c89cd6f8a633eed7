"""strace's record into calls: lines as strace 6.1 wrote them for the book's programs."""

from __future__ import annotations

from socklab.observe import strace

REFUSED = """\
812  1795681856.893251 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<TCP:[22334]> <0.000031>
812  1795681856.899418 connect(3<TCP:[22334]>, {sa_family=AF_INET, sin_port=htons(13), sin_addr=inet_addr("10.77.2.10")}, 16) = -1 ECONNREFUSED (Connection refused) <0.000423>
812  1795681856.899900 write(2</dev/pts/0>, "connect error: Connection refused\\n", 34) = 34 <0.000010>
812  1795681856.956127 +++ exited with 1 +++
"""  # noqa: E501

BLOCKED = """\
900  1700000000.000000 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3<TCP:[1]> <0.000010>
900  1700000000.000100 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(13), sin_addr=inet_addr("10.77.2.10")}, 16 <unfinished ...>
901  1700000000.000200 read(0</dev/null>, "", 10) = 0 <0.000010>
900  1700000007.100000 <... connect resumed>) = -1 ETIMEDOUT (Connection timed out) <7.099900>
902  1700000000.500000 recvfrom(3<UDP:[0.0.0.0:5000]>, 0x7ffd, 4096, 0, 0x7ffe, [16] <unfinished ...>
902  1700000003.000000 +++ killed by SIGTERM +++
903  1700000000.600000 accept4(3<TCP:[10.77.2.10:13]>, 0x7ffd, [16], SOCK_CLOEXEC <unfinished ...>
903  1700000003.000000 <... accept4 resumed>) = ? <2.400000>
903  1700000003.000100 +++ killed by SIGKILL +++
"""  # noqa: E501

SERVER = """\
70  1700000000.0 accept4(3<TCP:[10.77.2.10:9877]>, {sa_family=AF_INET, sin_port=htons(43388), sin_addr=inet_addr("10.77.1.10")}, [16], SOCK_CLOEXEC) = 4<TCP:[10.77.2.10:9877->10.77.1.10:43388]> <0.100000>
71  1700000000.2 close(4<TCP:[10.77.2.10:9877->10.77.1.10:43388]>) = 0 <0.000010>
70  1700000000.3 setsockopt(3<UDP:[0.0.0.0:9877]>, SOL_SOCKET, SO_RCVBUF, [225280], 4) = 0 <0.000010>
70  1700000000.4 getsockopt(3<UDP:[0.0.0.0:9877]>, SOL_SOCKET, SO_RCVBUF, [450560], [4]) = 0 <0.000010>
"""  # noqa: E501


def test_a_refused_connect_has_its_errno_address_and_duration() -> None:
    calls = strace.parse(REFUSED.splitlines())
    connect = next(c for c in calls if c.name == "connect")
    assert connect.errno == "ECONNREFUSED"
    assert connect.result == -1
    assert connect.address == ("10.77.2.10", 13)
    assert connect.duration == 0.000423
    assert connect.socket == "TCP:[22334]"


def test_reads_and_writes_on_files_are_not_socket_calls() -> None:
    names = [c.name for c in strace.parse(REFUSED.splitlines())]
    assert names == ["socket", "connect"]


def test_an_unfinished_call_is_joined_with_its_resumption() -> None:
    calls = strace.parse(BLOCKED.splitlines())
    connect = next(c for c in calls if c.name == "connect")
    assert connect.errno == "ETIMEDOUT"
    assert connect.address == ("10.77.2.10", 13)
    assert connect.start == 1700000000.0001
    assert connect.duration == 7.0999


def test_a_call_never_resumed_or_ended_by_death_is_blocked() -> None:
    calls = {c.pid: c for c in strace.parse(BLOCKED.splitlines()) if c.name != "socket"}
    assert calls[902].name == "recvfrom" and calls[902].blocked
    assert calls[903].name == "accept4" and calls[903].blocked
    assert calls[903].errno is None and calls[903].result is None
    assert not calls[900].blocked


def test_accept_gives_the_peer_and_the_new_socket() -> None:
    calls = strace.parse(SERVER.splitlines())
    accept = calls[0]
    assert accept.name == "accept4"
    assert accept.address == ("10.77.1.10", 43388)
    assert accept.result == 4
    assert calls[1].pid == 71 and calls[1].socket == "TCP:[10.77.2.10:9877->10.77.1.10:43388]"


def test_socket_options_are_decoded() -> None:
    calls = strace.parse(SERVER.splitlines())
    assert (calls[2].option, calls[2].value) == ("SO_RCVBUF", 225280)
    assert (calls[3].name, calls[3].value) == ("getsockopt", 450560)


def test_a_line_cut_short_by_a_kill_is_a_call_never_seen_to_end() -> None:
    cut = (
        "5 1700000000.0 connect(3<TCP:[1]>, {sa_family=AF_INET, sin_port=htons(13), sin_addr=inet_a"
    )
    calls = strace.parse([cut])
    assert len(calls) == 1 and calls[0].blocked  # begun, never seen to end


def test_calls_survive_a_round_trip_through_json() -> None:
    for call in strace.parse(SERVER.splitlines() + BLOCKED.splitlines()):
        assert strace.Call.from_json(call.to_json()) == call


PLAIN_Y = """\
12 1700000000.000 socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3<socket:[100]> <0.000020>
12 1700000000.001 bind(3<socket:[100]>, {sa_family=AF_INET, sin_port=htons(0), sin_addr=inet_addr("0.0.0.0")}, 16) = 0 <0.000010>
12 1700000000.002 listen(3<socket:[100]>, 8) = 0 <0.000010>
12 1700000000.003 accept4(3<socket:[100]>, {sa_family=AF_INET, sin_port=htons(40000), sin_addr=inet_addr("10.77.1.10")}, [16], SOCK_CLOEXEC) = 4<socket:[101]> <0.5>
13 1700000000.600 read(4<socket:[101]>, "hi\\n", 4096) = 3 <0.000010>
12 1700000000.700 socket(AF_INET, SOCK_DGRAM, IPPROTO_IP) = 5<socket:[102]> <0.000020>
12 1700000000.701 write(5<socket:[102]>, "x", 1) = 1 <0.000010>
12 1700000000.702 read(0</dev/null>, "", 1) = 0 <0.000010>
"""  # noqa: E501


def test_with_plain_y_a_sockets_kind_comes_from_the_call_that_made_it() -> None:
    calls = strace.parse(PLAIN_Y.splitlines())
    assert [c.name for c in calls] == [
        "socket",
        "bind",
        "listen",
        "accept4",
        "read",
        "socket",
        "write",
    ]
    assert calls[2].socket == "TCP:[100]"
    assert calls[3].made == "socket:[101]"
    assert calls[4].socket == "TCP:[101]", "an accepted socket is the listener's kind"
    assert calls[6].socket == "UDP:[102]"
