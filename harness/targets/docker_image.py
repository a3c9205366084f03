"""What a `docker:` image is and has (harness/targets/docker_.py): the labels that say which
kind of image it is (`python -m harness.images build ref`, `qmc image --from-home`, the
images of other MTAs), and the probe run in its container when the target starts: the tools
the sessions need (tcpserver, unshare, setsid, python3, env), the MTA program, the programs
in HOME/bin, and whether the container sees the target's host directory at /qmc.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from harness.errors import TargetFault, TargetSpecError

__all__ = ["HOME_LABEL", "KIND_LABEL", "PORT_LABEL", "probe"]

KIND_LABEL = "org.qmail-conformance.kind"  # eqmail-ref: our reference image
PORT_LABEL = "org.qmail-conformance.port"  # an image that runs its own server there
HOME_LABEL = "org.qmail-conformance.home"  # a qmail home (harness/images/from_home.py)


def probe(container: Any, image: str, *, program: str, home: str, shared: tuple[str, str],
          qmail: bool, transport: str, gone: Callable[[], str]) -> set[str]:
    """What the image has: words such as tcpserver, setsid, python3, `shared` (the container
    sees the file `shared[0]`/.shared holding `shared[1]`) and `bin:NAME` for each program in
    HOME/bin. Raises TargetSpecError when the image lacks what the target needs (`qmail`: a
    qmail image, which needs unshare), TargetFault when /bin/sh does not run (`gone` says
    what the container said)."""
    root, marker = shared
    script = (f'command -v tcpserver >/dev/null && echo tcpserver; '
              f'command -v unshare >/dev/null && echo unshare; '
              f'command -v setsid >/dev/null && echo setsid; '
              f'command -v python3 >/dev/null && echo python3; '
              f'[ "$(cat {root}/.shared 2>/dev/null)" = {marker} ] && echo shared; '
              f'command -v env >/dev/null && echo env; '
              # a sh that exports nothing of its own but PWD (dash; not bash: `_`, SHLVL)
              '[ -z "$(env -i /bin/sh -c \'unset PWD OLDPWD; exec env\' 2>&1)" ] && echo cleansh; '
              f'command -v {program} >/dev/null && echo mta; '
              f'for f in {shlex.quote(home)}/bin/*; do [ -e "$f" ] && echo "bin:${{f##*/}}"; done; '
              'true')
    try:
        code, out = container.exec_run(["/bin/sh", "-c", script])
    except Exception:  # noqa: BLE001 - it ran a moment, then ended (no /bin/sh under init)
        raise TargetFault(f"image {image} does not start: {gone()}") from None
    facts = set(out.decode("utf-8", "replace").split())
    if code != 0:
        raise TargetFault(f"image {image} does not start: /bin/sh failed: {out[-500:]!r}")
    if "mta" not in facts:
        hint = "name it with docker:IMAGE,smtpd=PATH or home=DIR"
        raise TargetSpecError(f"image {image}: no {program} in the image; {hint}")
    if "env" not in facts:
        raise TargetSpecError(f"image {image}: no env(1); the harness needs /bin/sh and env")
    if qmail and "unshare" not in facts:
        raise TargetSpecError(f"image {image}: no unshare(1) (util-linux): needed to give "
                              f"{program} the case's control files at {home}")
    if transport == "tcpserver" and "tcpserver" not in facts:
        raise TargetSpecError(f"image {image}: no tcpserver (ucspi-tcp) for transport=tcpserver")
    return facts
