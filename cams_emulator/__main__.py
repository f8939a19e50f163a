"""``python -m cams_emulator``: run the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from cams_emulator.emulator import CamsEmulator
from cams_emulator.models import Credential


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cams_emulator",
        description="A local, stateful CAMS OpenAPI endpoint for the unmodified SDK.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--instance", action="append", default=[], metavar="ID", help="an instance that exists"
    )
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--access-key-secret", required=True)
    parser.add_argument(
        "--security-token", help="required of requests when the key id starts with STS."
    )
    parser.add_argument("--max-clock-skew", type=float, default=900, metavar="SECONDS")
    parser.add_argument(
        "--ok-success-flag",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Success in a successful delete's body (--no-ok-success-flag: false, "
        "as in the API page's sample)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    credential = Credential(args.access_key_id, args.access_key_secret, args.security_token)
    try:
        emulator = CamsEmulator(
            host=args.host,
            port=args.port,
            credentials=[credential],
            instances=args.instance,
            max_clock_skew_s=args.max_clock_skew,
            ok_success_flag=args.ok_success_flag,
        )
    except ValueError as exc:
        print(f"cams-emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        emulator.start()
    except OSError as exc:  # e.g. the port is taken
        print(f"cams-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    # The first line names the address: scripts wait for it, then parse the port.
    print(f"cams-emulator listening on {emulator.endpoint}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    print("cams-emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
