"""`qmc load`: the command line of harness/load.py.

    qmc load -t SPEC --messages N --concurrency C [--auth] [--starttls] [--size BYTES]
             [--duration S] [--queue-dir DIR] [--env K=V]... [--json FILE]

Exit status: 0 when every accepted message was queued exactly once and no session ended
silently (and, for a soak, nothing leaked and memory did not grow); 1 otherwise; 2 for a usage
or set-up error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness.errors import HarnessError
from harness.load import LoadPlan, run_load, summary
from harness.targets import make_target

__all__ = ["register"]


def _env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HarnessError(f"qmc load: --env wants KEY=VALUE, not {item!r}")
        env[key] = value
    return env


def cmd_load(args: argparse.Namespace) -> int:
    plan = LoadPlan(messages=args.messages, concurrency=args.concurrency, auth=args.auth,
                    starttls=args.starttls, size=args.size, duration=args.duration or 0.0,
                    timeout=args.timeout, queue_dir=Path(args.queue_dir) if args.queue_dir else None,
                    env=_env(args.env))
    target = make_target(args.target)
    target.start()
    try:
        with tempfile.TemporaryDirectory(prefix="qmc-load-") as work:
            result = run_load(target, plan, Path(work), progress=sys.stderr.isatty())
    finally:
        target.stop()
    print(summary(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n")
    return 1 if result.failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("load", help="send many messages at once and check none is lost or duplicated")
    p.add_argument("--target", "-t", default="ref", metavar="SPEC", help="the target (default: ref)")
    p.add_argument("--messages", "-n", type=int, default=100, help="messages to send (default 100)")
    p.add_argument("--concurrency", "-c", type=int, default=4, help="sessions at once (default 4)")
    p.add_argument("--auth", action="store_true", help="AUTH PLAIN as the fixture's user joe")
    p.add_argument("--starttls", action="store_true", help="STARTTLS before the mail")
    p.add_argument("--size", type=int, default=1024, help="message body bytes, about (default 1024)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="soak: keep sessions going for S seconds; also fails on leaked processes "
                        "and growing memory of the target's long-lived processes")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per session (default 30)")
    p.add_argument("--queue-dir", metavar="DIR",
                   help="tcp: targets: where the server's queue capture writes *.msg files; "
                        "without it only the replies are checked")
    p.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="add to the session environment (e.g. QMAILQUEUE=...)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    p.set_defaults(func=cmd_load)
