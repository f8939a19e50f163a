"""The function's local loop, against the CAMS emulator.

demo    every sample event in events/ through the handler, checked against
        events/expectations.json; exits 1 if any sample differs
serve   a local HTTP trigger on 127.0.0.1 (Ctrl-C stops it)
invoke  one event file through the handler; the result as JSON on stdout
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from cams_local import demo, invoke, serve
from cams_local.runner import RUNTIMES, parse_env_pairs


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cams_local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    runtime = argparse.ArgumentParser(add_help=False)
    runtime.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="python3.10",
        help="whose context to imitate: python3.10 carries the role's keys on the context, "
        "python3.12 in ALIBABA_CLOUD_* variables (default %(default)s)",
    )
    env = argparse.ArgumentParser(add_help=False)
    env.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a function variable (e.g. DRY_RUN=true); repeatable. Wins over the shell's "
        "and events/expectations.json's",
    )

    demo_command = commands.add_parser(
        "demo", parents=[runtime], help="every sample event, checked against the docs"
    )
    demo_command.add_argument(
        "--log-file",
        type=argparse.FileType("w"),
        metavar="PATH",
        help="write the function's JSON log lines here (the demo shows them condensed)",
    )

    serve_command = commands.add_parser(
        "serve", parents=[runtime, env], help="a local HTTP trigger on 127.0.0.1"
    )
    serve_command.add_argument("--port", type=int, default=9000, help="default %(default)s")

    invoke_command = commands.add_parser(
        "invoke", parents=[runtime, env], help="one event; the result as JSON on stdout"
    )
    invoke_command.add_argument("--event-file", type=pathlib.Path, required=True, metavar="PATH")
    invoke_command.add_argument(
        "--endpoint",
        metavar="HOST:PORT",
        help="a CAMS emulator you run yourself (python -m cams_emulator); by default one is "
        "started, seeded with the event's instances",
    )
    invoke_command.add_argument(
        "--timeout", type=int, default=30, metavar="SECONDS", help="the function's timeout"
    )
    invoke_command.add_argument(
        "--quiet", action="store_true", help="leave the function's log lines out of stderr"
    )
    invoke_command.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="a progress line for batches of more than 5 (auto: when stderr is a terminal)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "demo":
        return demo.run_demo(sys.stdout, runtime=args.runtime, log_file=args.log_file)
    try:
        overrides = parse_env_pairs(args.env)
    except ValueError as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve.serve(args.port, overrides=overrides, runtime=args.runtime)
    return invoke.invoke(
        args.event_file,
        overrides=overrides,
        endpoint=args.endpoint,
        runtime=args.runtime,
        timeout_s=args.timeout,
        quiet=args.quiet,
        progress=args.progress,
    )


if __name__ == "__main__":
    sys.exit(main())
