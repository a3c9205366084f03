"""`python -m harness.images build ref|postfix|exim4|opensmtpd [--force-base]`."""

from __future__ import annotations

import argparse
import sys

from harness.errors import HarnessError
from harness.images.build import IMAGES, build

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.images",
                                description="Build the harness's images from a debootstrap base "
                                            "(no registry needed).")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build an image")
    b.add_argument("names", nargs="+", choices=sorted(IMAGES), metavar="NAME",
                   help=f"one or more of {', '.join(IMAGES)}")
    b.add_argument("--force-base", action="store_true", help="rebuild the debootstrap base too")
    b.add_argument("--engine", default="", help="podman, docker or an API URL (default: as docker: "
                                                "targets choose, see harness/targets/engine.py)")
    args = p.parse_args(argv)
    try:
        for name in args.names:
            build(name, force_base=args.force_base, engine=args.engine)
    except HarnessError as exc:
        print(f"harness.images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
