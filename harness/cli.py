"""socklab's command line: list, run, suite, show, validate, doctor, images, clean, and a lab
to step into (up, shell, exec, capture, ps, down).

Exit codes: 0 every expectation held, 1 one failed, 2 usage error (bad scenario name or file),
3 the machine cannot run it (no engine, no root, missing kernel feature).
"""

from __future__ import annotations

import os
import signal
import sys

# Until main() installs socklab's handlers, nothing has been made: a Ctrl-C, SIGTERM or SIGHUP
# while Python still imports (a quarter of a second) ends the command quietly with 128+N, not
# with a KeyboardInterrupt traceback from the middle of pydantic. (Only as a command: a test
# that imports this module keeps its own handlers.)
if __name__ == "__main__" or os.path.basename(sys.argv[0]) == "socklab":
    for _signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(_signum, lambda signum, frame: os._exit(128 + signum))

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.text import Text

from . import __version__, shipped
from .errors import BackendUnavailable, ScenarioError, SocklabError
from .report import model, terminal
from .report.model import visible
from .report.terminal import wrapped
from .run import compare, lab, labs, suite
from .run.clean import clean
from .run.execute import (
    BACKENDS,
    EXIT_FAIL,
    EXIT_PASS,
    EXIT_USAGE,
    check_family,
    default_backend,
    exit_code_of,
    require_root,
    run_plan,
)
from .run.plan import Plan, prepare
from .scenario import model as scenarios
from .testbed import stopping, vm
from .testbed.doctor import doctor
from .testbed.ownership import RUNS_DIR

err = Console(stderr=True, highlight=False, soft_wrap=True)  # a path must not wrap


def progress(prefix: str, quiet: bool = False) -> Callable[[str], None]:
    """Progress on stderr, each line within the terminal's width, cut between words."""
    if quiet:
        return lambda text: None

    def say(text: str) -> None:
        first, *rest = wrapped(f"{prefix}: {visible(text)}", terminal.width(), 4)
        head, _, tail = first.partition(": ")
        err.print(Text.assemble((head + ":", "dim"), " " + tail if tail else ""))
        for line in rest:
            err.print(Text(line))

    return say


def cmd_list(args: argparse.Namespace) -> int:
    columns = terminal.width()
    for name in scenarios.names():
        scen = scenarios.load_named(name)
        if args.family == 6 and scen.not_over_ipv6:
            continue
        print("\n".join(wrapped(f"{name:<18} {visible(scen.title)}", columns, 19)))
    return EXIT_PASS


def roles_of(args: argparse.Namespace) -> dict[str, str]:
    """--client and --server as given; one given empty is an error, never the built-in's run
    (a grading script whose variable is unset must not grade the book's program)."""
    given = {role: getattr(args, role, None) for role in ("client", "server")}
    for role, text in given.items():
        if text is not None and not text.strip():
            raise ScenarioError(
                f"--{role} is empty", hint=f"give the program to run, e.g. --{role} ./my{role}"
            )
    return {role: text for role, text in given.items() if text}


def check_played(plan: Plan, name: str) -> None:
    """Each program given plays at least one step: a run that judges only the built-in
    programs would pass whatever the user's program does."""
    for role in plan.replacements:
        if not any(
            s.run and s.run.role == role and s.run.name in plan.played for s in plan.scenario.steps
        ):
            why = "; ".join(f"{s.step}: {s.why}" for s in plan.skipped if s.role == role)
            raise ScenarioError(
                f"--{role} plays no step of {name}" + (f" ({why})" if why else ""),
                hint="socklab suite --client ... runs it in every scenario it fits",
            )


def cmd_run(args: argparse.Namespace) -> int:
    plan = prepare(
        args.name,
        counterfactual=args.counterfactual,
        roles=roles_of(args),
        mount=args.mount,
        family=args.family,
    )
    check_played(plan, args.name)
    if args.kernel and args.kernel != "host":
        if args.family == 6:
            raise ScenarioError(
                "--family 6 with --kernel is not supported yet",
                hint="compare NAME --kernels K --families 6 runs it in the guest",
            )
        return run_in_guest(args)
    console = None if args.json else Console(highlight=False)
    say = progress("socklab", quiet=args.json)
    backend = args.backend or default_backend(say)
    if args.json or not err.is_terminal:  # a pipe or a file gets the result only
        code, data = run_plan(plan, backend, say, console, full=args.full)
    else:
        # On a terminal: one line that names the running step and its time against its deadline
        # (stderr); the report is printed once that line is gone.
        with err.status("starting", spinner="dots") as line:
            status = lambda text: line.update(Text(text))  # noqa: E731
            code, data = run_plan(plan, backend, say, None, status=status)
        terminal.render(model.load(Path(str(data["rundir"]))), console or Console(), args.full)
    if args.json:
        print(json.dumps(data, indent=2))
    return code


def run_in_guest(args: argparse.Namespace) -> int:
    """The same `socklab run` with the netns backend inside a QEMU guest of another kernel; the
    guest's run folder comes back under runs/ and is shown here."""
    require_root()
    if args.backend == "compose":
        raise ScenarioError("--kernel runs the netns backend in the guest", hint="--backend netns")
    vm.check_tools()
    say = progress("socklab", quiet=args.json)
    kernel = vm.fetch(args.kernel, say)
    name = Path(args.name).resolve() if args.name.endswith((".yaml", ".yml")) else args.name
    argv = [sys.executable, "-m", "socklab.cli", "run", str(name), "--backend", "netns", "--json"]
    for role, command in roles_of(args).items():
        argv += [f"--{role}", command]
    argv += ["--mount", args.mount] if args.mount else []
    argv += ["--counterfactual", args.counterfactual] if args.counterfactual else []
    share = RUNS_DIR / f"guest-{kernel.release}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    share.mkdir(mode=0o755, parents=True)
    how = vm.accel(kernel, say)
    say(f"booting {kernel.release} under QEMU ({how}, no network device); socklab runs inside")
    line = vm.shell_line(argv, {"SOCKLAB_RUNS": "/out-share"})
    guest = vm.run(kernel, line, share, args.deadline, accel=how)
    runs = [p.parent for p in share.glob("*/report.json")]
    if not runs:
        tail = (
            (share / "guest.stderr").read_text(errors="replace")[-1500:]
            if (share / "guest.stderr").exists()
            else ""
        )
        console_log = (share / "console.log").read_text(errors="replace")[-1500:]
        what = {124: f"did not finish in {args.deadline:.0f} s and was stopped"}.get(
            guest.exit_code, f"ended with {guest.exit_code} and no report"
        )
        raise BackendUnavailable(
            f"the {kernel.release} guest {what}: {tail.strip() or console_log.strip()}",
            hint=f"its console log: {share / 'console.log'}",
        )
    saved = model.load(runs[0])
    if args.json:
        print(json.dumps(saved.to_json(), indent=2))
    else:
        terminal.render(saved, Console(highlight=False), full=args.full)
        print(f"guest: {kernel.release} under QEMU {how}, {guest.seconds:.0f} s with boot")
    return guest.exit_code


def cmd_junit_merge(args: argparse.Namespace) -> int:
    cases = suite.merge_junit([Path(p) for p in args.inputs], Path(args.output))
    print(f"{args.output}: {cases} test cases from {len(args.inputs)} files")
    return EXIT_PASS


def cmd_suite(args: argparse.Namespace) -> int:
    say = progress("socklab suite")
    backend = args.backend or default_backend(say)
    require_root()
    if args.counterfactuals:
        shown, code = suite.counterfactuals(args.names, backend, say)
        suite.render(shown)
        return code
    if args.jobs is not None and args.jobs < 1:
        raise ScenarioError(f"--jobs {args.jobs}: needs 1 or more", hint="-j 1 runs one at a time")
    jobs = args.jobs or suite.default_jobs()
    shard_of = suite.parse_shard(args.shard) if args.shard else None
    if shard_of is not None and args.kernel not in (None, "host"):
        raise ScenarioError("--shard runs on the host's kernel", hint="drop --kernel")
    started = time.monotonic()
    if args.kernel not in (None, "host"):
        if args.backend == "compose" or roles_of(args) or args.mount:
            raise ScenarioError(
                "--kernel runs the book's programs with the netns backend in the guest",
                hint="drop --backend compose, --client, --server and --mount",
            )
        suite.select(args.names, {})  # every name checked before a guest boots
        vm.check_name(args.kernel)
        backend = "netns"
        names = args.names or scenarios.names()
        results = compare.in_guest(names, args.kernel, say, None, args.family).results
    else:
        check_family(backend, args.family)
        results = suite.run_all(
            args.names, backend, say, roles_of(args), args.mount, jobs, shard_of, args.family
        )
    wall = time.monotonic() - started
    if not results and shard_of is not None:  # the role fits fewer scenarios than shards
        if args.junit_xml:
            suite.junit([], backend, Path(args.junit_xml), f"-shard-{shard_of[0]}-of-{shard_of[1]}")
        print(f"shard {shard_of[0]}/{shard_of[1]} has no scenario to run")
        return EXIT_PASS
    if not results:
        raise ScenarioError(
            "no scenario has the role given", hint="socklab list; roles are client and server"
        )
    if args.junit_xml:
        label = f"-shard-{shard_of[0]}-of-{shard_of[1]}" if shard_of else ""
        suite.junit(results, backend, Path(args.junit_xml), label)
    index = suite.index(results, backend, wall, roles_of(args))
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
        return suite.exit_code(results)
    suite.render(suite.table(results, backend))
    longest = max((r.seconds for r in results), default=0.0)
    print(
        f"{len(results)} scenarios in {wall:.1f} s wall time, up to {jobs} at once; "
        f"the longest took {longest:.1f} s; each one's report: {index}"
    )
    return suite.exit_code(results)


def cmd_compare(args: argparse.Namespace) -> int:
    require_root()
    kernels = compare.parse_kernels(args.kernels)
    names = suite.select(args.names, {})  # every name and kernel checked before anything runs
    if args.jobs is not None and args.jobs < 1:
        raise ScenarioError(f"--jobs {args.jobs}: needs 1 or more", hint="-j 1 runs one at a time")
    if any(kernel != "host" for kernel in kernels):
        for kernel in kernels:
            if kernel != "host":
                vm.check_name(kernel)
        vm.check_tools()
    families = compare.parse_families(args.families)
    say = progress("socklab compare", quiet=args.json)
    columns = []
    for kernel in kernels:
        for family in families:
            say(f"{len(names)} scenario(s) on {kernel}, IPv{family}")
            if kernel == "host":
                jobs = args.jobs or suite.default_jobs()
                columns.append(compare.on_host(names, say, jobs, family))
            else:
                columns.append(compare.in_guest(names, kernel, say, args.deadline, family))
    if args.json:
        print(json.dumps(compare.to_json(columns), indent=2))
    else:
        Console(highlight=False).print(compare.table(names, columns))
        print(
            "Each difference is explained in the scenario's own text: "
            "socklab run NAME [--kernel K] [--family 6] shows it."
        )
    results = [r for column in columns for r in column.results]
    return suite.exit_code(results)


def cmd_show(args: argparse.Namespace) -> int:
    saved = model.load(Path(args.rundir))
    if args.json:
        print(json.dumps(saved.to_json(), indent=2))
    else:
        terminal.render(saved, Console(highlight=False), full=args.full)
    return EXIT_PASS if saved.passed else EXIT_FAIL


def cmd_validate(args: argparse.Namespace) -> int:
    """Every file is checked and reported, commands' executables included; no host is up."""
    failed = 0
    for path in args.paths:
        try:
            plan = prepare(path)
        except ScenarioError as error:
            failed += 1
            report_error(error)
            continue
        scen = plan.scenario
        print(f"{path}: ok ({scen.name}, {len(scen.steps)} steps, {len(scen.expect)} expectations)")
    return EXIT_USAGE if failed else EXIT_PASS


def cmd_doctor(args: argparse.Namespace) -> int:
    return doctor(Console(highlight=False))


def cmd_images(args: argparse.Namespace) -> int:
    """Build the node image the compose backend runs (no registry: from Debian packages)."""
    import subprocess

    build = shipped.IMAGES / "build"
    return subprocess.call(["bash", str(build), *(["--rebuild"] if args.rebuild else [])])


def cmd_up(args: argparse.Namespace) -> int:
    backend = args.backend or default_backend(progress("socklab up"))
    kept = lab.bring_up(args.scenario, backend, progress("socklab up"))
    what = f"with {kept.scenario}'s faults" if kept.scenario else "with no fault"
    print(f"lab {kept.id} is up ({backend}, {what}); it stays up until `socklab down {kept.id}`")
    for note in kept.faults:
        print(f"  fault: {note}")
    for host in ("client", "router", "server"):
        addresses = [v for k, v in kept.addresses.items() if k.startswith(f"{host}.")]
        print(f"  {host:<7} {', '.join(addresses) or kept.addresses.get(host, '')}")
    print(
        "  socklab shell HOST | socklab exec HOST -- CMD | socklab capture lan1|lan2 | socklab ps"
    )
    return EXIT_PASS


def cmd_down(args: argparse.Namespace) -> int:
    require_root()
    kept = lab.find(args.id, any_state=True)
    try:
        removed = lab.take_down(kept, progress("socklab down"))
    except KeyboardInterrupt:
        err.print(
            f"socklab: interrupted; lab {kept.id} is marked down and partly removed: "
            f"socklab down {kept.id} (or socklab clean) removes the rest"
        )
        return 130
    print(f"lab {kept.id} is down ({len(removed)} things removed)")
    return EXIT_PASS


def cmd_ps(args: argparse.Namespace) -> int:
    from rich.table import Table

    found = labs.labs()
    if args.json:
        print(
            json.dumps(
                [
                    {**dataclasses.asdict(k), "missing": k.missing(), "lapsed": k.lapsed()}
                    for k in found
                ]
            )
        )
        return EXIT_PASS
    if not found:
        print("no lab is up (socklab up [SCENARIO] brings one up)")
        return EXIT_PASS
    table = Table(title="Labs")
    for column in ("id", "backend", "scenario", "state", "up for", "faults"):
        table.add_column(column)
    for kept in found:
        missing, lapsed = kept.missing(), kept.lapsed()
        state = f"broken: {', '.join(missing)} gone" if missing else kept.state
        if lapsed and not missing:
            state = f"partly broken: {'; '.join(lapsed)} no longer applies (its process is gone)"
        minutes = (time.time() - kept.created) / 60
        table.add_row(
            kept.id,
            kept.backend,
            kept.scenario or "-",
            state,
            f"{minutes:.0f} min",
            Text("; ".join(kept.faults) or "-"),
        )
    Console(highlight=False).print(table)
    return EXIT_PASS


def in_host(args: argparse.Namespace, argv: list[str], tty: bool) -> int:
    """Become argv in the lab's host: signals, the terminal and the exit status are its."""
    require_root()
    kept = lab.find(args.lab)
    full = lab.host_argv(kept, args.host, argv, tty)
    sys.stdout.flush()
    os.execvp(full[0], full)


def cmd_shell(args: argparse.Namespace) -> int:
    # Interactive only on a terminal: commands piped in run without a prompt, job-control
    # warnings or an echo of each line.
    interactive = sys.stdin.isatty()
    shell = ["bash", "--norc", "--noprofile", *(["-i"] if interactive else ["-s"])]
    return in_host(args, shell, tty=interactive)


def cmd_exec(args: argparse.Namespace) -> int:
    command = args.command
    if not command:
        raise ScenarioError("no command given", hint="socklab exec client ss -tan")
    return in_host(args, command, tty=False)


def cmd_capture(args: argparse.Namespace) -> int:
    require_root()
    if args.count is not None and args.count < 1:
        raise ScenarioError(
            f"-c {args.count}: needs 1 or more packets", hint="leave it out for no limit"
        )
    if args.write and not Path(args.write).resolve().parent.is_dir():
        raise ScenarioError(
            f"-w {args.write}: no folder {Path(args.write).resolve().parent}",
            hint="name a file in a folder that exists",
        )
    kept = lab.find(args.lab)
    lab.check_whole(kept)
    iface = lab.interface(kept, args.link)
    argv = ["tcpdump", "-n", "-i", iface, "-Z", "root"]
    argv += ["-w", args.write] if args.write else ["-l"]
    argv += ["-c", str(args.count)] if args.count else []
    argv += ["--", *args.filter] if args.filter else []  # tcpdump's own filter expression
    err.print(Text(f"socklab capture: {args.link} at the router ({iface}); Ctrl-C stops"))
    full = ["nsenter", f"--net={kept.namespace('router')}", "--", *argv]
    sys.stdout.flush()
    os.execvp(full[0], full)


def cmd_clean(args: argparse.Namespace) -> int:
    require_root()
    removed = clean(print)
    print(f"socklab clean: removed {len(removed)} leftover(s)")
    return EXIT_PASS


def add_program_options(command: argparse.ArgumentParser) -> None:
    for role in ("client", "server"):
        command.add_argument(
            f"--{role}",
            metavar="CMD",
            help=f"your own program in every step that plays the {role} (CMD may carry leading "
            "arguments; the scenario adds the book's)",
        )
    command.add_argument(
        "--mount",
        metavar="DIR",
        help="your directory, read-only in every host at its own path (default: the "
        "directory of --client/--server)",
    )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="socklab", description=__doc__.splitlines()[0])
    top.add_argument("--version", action="version", version=f"socklab {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="the scenarios")
    listing.add_argument(
        "--family", type=int, choices=(4, 6), default=4, help="6: the ones that run over IPv6"
    )
    listing.set_defaults(func=cmd_list)
    run = sub.add_parser("run", help="run one scenario and report")
    run.add_argument("name", help="a scenario name (socklab list) or a path to your own .yaml")
    run.add_argument(
        "--backend", choices=sorted(BACKENDS), help="default: compose if Docker answers"
    )
    run.add_argument("--json", action="store_true", help="print report.json instead of the view")
    run.add_argument(
        "--family",
        type=int,
        choices=(4, 6),
        default=4,
        help="the protocol family of the scenario's addresses (6: IPv6)",
    )
    run.add_argument("--full", action="store_true", help="every packet and call, not folded")
    run.add_argument(
        "--kernel",
        metavar="K",
        help="host (default), debian-6.1 (Debian bookworm's stock kernel, fetched with apt) or a "
        "linux-image-*.deb: the run happens in a QEMU guest of that kernel (netns backend)",
    )
    run.add_argument(
        "--deadline",
        type=float,
        default=900.0,
        metavar="S",
        help="with --kernel: stop the guest after S seconds (default 900; TCG emulation is slow)",
    )
    add_program_options(run)
    run.add_argument(
        "--counterfactual",
        metavar="N|NAME",
        help="run the scenario with one of its counterfactual changes (its expectations then "
        "fail where the counterfactual says)",
    )
    run.set_defaults(func=cmd_run)
    suite = sub.add_parser("suite", help="run every scenario and print one table")
    suite.add_argument("names", nargs="*", help="default: every scenario")
    suite.add_argument("--backend", choices=sorted(BACKENDS))
    suite.add_argument(
        "--family",
        type=int,
        choices=(4, 6),
        default=4,
        help="6: over IPv6, every scenario that runs so",
    )
    add_program_options(suite)
    suite.add_argument("--junit-xml", metavar="FILE", help="one test case per scenario")
    suite.add_argument("--json", action="store_true", help="print the results as JSON, no table")
    suite.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="run N scenarios at once, longest first; a run that is tearing down no longer "
        "counts (default: four per CPU core, at most 8; 1 runs them one after another)",
    )
    suite.add_argument(
        "--kernel",
        metavar="K",
        help="host (default), debian-6.1 or a linux-image-*.deb: the suite runs in one QEMU "
        "guest of that kernel (netns backend, one at a time)",
    )
    suite.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (a CI matrix): every scenario is in exactly one, balanced "
        "by recorded times; socklab junit-merge joins the shards' --junit-xml files",
    )
    suite.add_argument(
        "--counterfactuals",
        action="store_true",
        help="run each scenario's counterfactuals: every one must make its expectations fail",
    )
    suite.set_defaults(func=cmd_suite)
    merge = sub.add_parser(
        "junit-merge", help="join the JUnit files of suite shards into one (for a CI matrix)"
    )
    merge.add_argument("output", help="the merged file to write")
    merge.add_argument("inputs", nargs="+", help="the shards' --junit-xml files")
    merge.set_defaults(func=cmd_junit_merge)
    compare = sub.add_parser(
        "compare", help="the same scenarios on several kernels, one table (the book's comparison)"
    )
    compare.add_argument("names", nargs="*", help="default: every scenario")
    compare.add_argument(
        "--kernels",
        default="host,debian-6.1",
        metavar="K,K",
        help="host and kernels as --kernel takes them (default: host,debian-6.1)",
    )
    compare.add_argument(
        "--families",
        default="4",
        metavar="F,F",
        help="4, 6 or 4,6: each kernel's column per family (6: IPv6, netns)",
    )
    compare.add_argument("-j", "--jobs", type=int, metavar="N", help="at once on the host")
    compare.add_argument(
        "--deadline",
        type=float,
        metavar="S",
        help="stop a guest after S seconds (default: 60 + 150 a scenario; TCG is slow)",
    )
    compare.add_argument("--json", action="store_true", help="every kernel's results as JSON")
    compare.set_defaults(func=cmd_compare)
    show = sub.add_parser("show", help="print a saved run again (judged again from its record)")
    show.add_argument("rundir", help="a run folder (runs/NAME-DATE-ID)")
    show.add_argument("--json", action="store_true", help="print its report as JSON")
    show.add_argument("--full", action="store_true", help="every packet and call, not folded")
    show.set_defaults(func=cmd_show)
    val = sub.add_parser("validate", help="check scenario files against the schema")
    val.add_argument("paths", nargs="+")
    val.set_defaults(func=cmd_validate)
    sub.add_parser("doctor", help="what this machine can do").set_defaults(func=cmd_doctor)
    images = sub.add_parser(
        "images", help="build the compose backend's node image from Debian packages"
    )
    images.add_argument("--rebuild", action="store_true", help="even if it is up to date")
    images.set_defaults(func=cmd_images)
    sub.add_parser(
        "clean", help="remove what crashed runs left (a lab that is up is spared)"
    ).set_defaults(func=cmd_clean)
    add_lab_commands(sub)
    return top


def add_lab_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = sub.add_parser("up", help="bring the hosts up and keep them (a lab to step into)")
    up.add_argument("scenario", nargs="?", help="set this scenario's faults (default: none)")
    up.add_argument(
        "--backend", choices=sorted(BACKENDS), help="default: compose if Docker answers"
    )
    up.set_defaults(func=cmd_up)

    def lab_option(command: argparse.ArgumentParser) -> None:
        command.add_argument("--lab", metavar="ID", help="which lab (default: the only one up)")

    shell = sub.add_parser("shell", help="a shell in a lab's host")
    shell.add_argument("host", help="client, router or server")
    lab_option(shell)
    shell.set_defaults(func=cmd_shell)
    run = sub.add_parser(
        "exec",
        help="run one command in a lab's host: exec HOST CMD...",
        usage="socklab exec [--lab ID] HOST CMD...  (-- before CMD when it starts with -)",
    )
    run.add_argument("host", help="client, router or server")
    lab_option(run)
    run.set_defaults(func=cmd_exec, command=[])
    capture = sub.add_parser("capture", help="tcpdump on a lab's link, at the router")
    capture.add_argument("link", help="lan1 (client side) or lan2 (server side)")
    capture.set_defaults(filter=[])
    capture.usage = "socklab capture LINK [-w FILE] [-c N] [--lab ID] [FILTER...]"
    capture.epilog = "FILTER: tcpdump's expression, as tcpdump takes it (tcp port 13)"
    capture.add_argument("-w", "--write", metavar="FILE", help="write a pcap instead of lines")
    capture.add_argument("-c", "--count", type=int, metavar="N", help="stop after N packets")
    lab_option(capture)
    capture.set_defaults(func=cmd_capture)
    ps = sub.add_parser("ps", help="the labs that are up")
    ps.add_argument("--json", action="store_true")
    ps.set_defaults(func=cmd_ps)
    down = sub.add_parser("down", help="remove a lab (default: the only one up)")
    down.add_argument("id", nargs="?", help="its id (socklab ps)")
    down.set_defaults(func=cmd_down)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    words, tail = exec_command(words)
    args = parser().parse_args(words)
    if tail:
        if args.func == cmd_capture:
            args.filter = tail
        else:
            args.command = tail
    stopping.install()
    try:
        try:
            code: int = args.func(args)
        finally:
            stopping.settle()  # the work is over: a late Ctrl-C must not turn exit 130 into -2
        return code
    except SocklabError as error:
        report_error(error)
        return exit_code_of(error)
    except BrokenPipeError:
        # `socklab list | head`: the reader is gone, which is no error of socklab's; end as a
        # program killed by SIGPIPE would, without a traceback (and without Python's own
        # complaint when it flushes stdout at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        more = stopping.ignored()
        note = f" ({more} more signals waited for it)" if more else ""
        err.print(f"socklab: interrupted; everything the run made was removed{note}")
        return 130


# Options of exec and capture that take a value: the word after them is never the command's
TAKES_VALUE = {"--lab", "-w", "--write", "-c", "--count"}


def exec_command(words: list[str]) -> tuple[list[str], list[str]]:
    """`exec [--lab ID] HOST CMD...` and `capture LINK [options] [FILTER...]`: socklab's
    words and the command's (the command, or tcpdump's filter). It starts after `--`, or at
    the first word after HOST or LINK that is not an option of socklab's; for exec, every word
    from there on is the command's, its own options included."""
    command = next((word for word in words if not word.startswith("-")), None)
    if command not in ("exec", "capture"):  # as another command's argument: that command's
        return words, []
    start = words.index(command)
    if "--" in words[start:]:
        cut = words.index("--", start)
        return words[:cut], words[cut + 1 :]
    mine, tail, named = words[: start + 1], list[str](), False
    index = start + 1
    while index < len(words):
        word = words[index]
        if tail and command == "exec":
            tail.append(word)
        elif word in TAKES_VALUE:
            mine += words[index : index + 2]
            index += 1
        elif word.startswith("-"):
            mine.append(word)  # --lab=ID, -h and the like
        elif not named:
            mine.append(word)
            named = True
        else:
            tail.append(word)
        index += 1
    return mine, tail


def report_error(error: SocklabError) -> None:
    # Text, not markup: a message may hold brackets (a pattern like ^[a-z]*$, a list).
    err.print(Text(f"socklab: {visible(str(error))}", style="bold red"))
    if error.hint:
        err.print(Text(visible(error.hint)))


if __name__ == "__main__":
    sys.exit(main())
