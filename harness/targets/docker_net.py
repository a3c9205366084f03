"""The container network of a docker: target (`private_network`), and its outgoing side:
addresses where qmail-remote in the container reaches the harness's fake relays and DNS
server, and local addresses of its own to bind (domainbindings, spec §6).

The container sits on a private `--internal` network whose bridge on the host carries the
gateway address (harness/targets/docker_.py). Two changes make the rest work, both from the
host, as root, so the image needs nothing but /bin/sh:

* the upper half of the network's subnet becomes local on the host side (one route of type
  `local` on the bridge: "AnyIP"), so each observer binds an address of its own there on
  port 25 or 53, and the container reaches it on-link like any neighbour (tried with
  Podman 4.3 and netavark: the host answers ARP for them and a port with no listener
  refuses at once, as on loopback);
* seven more addresses of the lower half go on the container's interface (`ip addr add`
  in its network namespace, entered with nsenter), the `{client2}` .. `{client8}` of the
  cases; `{client}` is the container's own address.

This needs the engine on this machine (the container's pid in our pid namespace) and root;
otherwise `prepare` raises NoOutgoing and categories 7-8 are reported not applicable with
its message. The route goes with the bridge when the network is removed; `undo` removes it
at once all the same.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import TargetFault
from harness.observe.addresses import CLIENT_NAMES, OutgoingNet, SubnetPool

__all__ = ["NoOutgoing", "await_greeting", "prepare", "private_network"]

_CLIENT_BASE = 10  # {client2} is the subnet's .12, {client8} its .18


def private_network(engine: Any, name: str, labels: dict[str, str], spec: str) -> tuple[Any, str, str]:
    """(network, subnet, gateway): an `--internal` bridge on a free /24 of 198.18.0.0/15."""
    import docker

    used = set()
    for net in engine.networks.list():
        for pool in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if pool.get("Subnet"):
                used.add(pool["Subnet"])
    free = [str(n) for n in ipaddress.ip_network("198.18.0.0/15").subnets(new_prefix=24)
            if str(n) not in used]
    last: Exception | None = None
    for subnet in random.sample(free, min(5, len(free))):
        gateway = str(next(ipaddress.ip_network(subnet).hosts()))
        pool = docker.types.IPAMPool(subnet=subnet, gateway=gateway)
        ipam = docker.types.IPAMConfig(pool_configs=[pool])
        try:
            # internal: no route out; Podman's compat API makes it without DNS (dns_enabled false)
            network = engine.networks.create(name, driver="bridge", internal=True, ipam=ipam, labels=labels)
            return network, subnet, gateway
        except docker.errors.APIError as exc:  # another run took the subnet meanwhile
            last = exc
    raise TargetFault(f"cannot create a private network for {spec}: {last}")


def await_greeting(address: str, port: int, seconds: float, alive: Callable[[], bool]) -> str:
    """Wait until a server greets (220) on address:port (an image's own server takes seconds
    to start); "" once it does, else why not (it ended, or nothing greeted in time)."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=5) as probe:
                if probe.recv(512).startswith(b"220"):
                    return ""
                last = "it answered without a 220 greeting"
        except OSError as exc:
            last = str(exc)
        if not alive():
            return "it does not start"
        time.sleep(0.2)  # a server starting up: nothing to wait on but its port
    return f"nothing greets on port {port} after {seconds:g} s ({last})"


class NoOutgoing(Exception):
    """Why this docker: target cannot run qmail-remote cases."""


def _ip(*args: str, pid: int = 0, stdin: str | None = None) -> str:
    command = ["ip", *args] if not pid else ["nsenter", "-t", str(pid), "-n", "ip", *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NoOutgoing(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return done.stdout


def _interface_with(address: str, pid: int = 0) -> str:
    """The name of the interface that carries `address` (in the host's or pid's namespace)."""
    for line in _ip("-o", "-4", "addr", "show", pid=pid).splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3].split("/")[0] == address:
            return fields[1].split("@")[0]
    where = f"the container (pid {pid})" if pid else "this machine"
    raise NoOutgoing(f"no interface of {where} has {address}")


def prepare(pid: int, subnet: str, gateway: str, address: str) -> tuple[OutgoingNet, Callable[[], None]]:
    """The target's OutgoingNet and the function that takes the host's route away again."""
    if os.geteuid() != 0:
        raise NoOutgoing("qmail-remote cases in a container need root: the harness gives the "
                         "container network the fake relays' addresses")
    if not (shutil.which("ip") and shutil.which("nsenter")):
        raise NoOutgoing("qmail-remote cases in a container need ip(8) (iproute2) and nsenter(1)")
    if pid <= 0 or not Path(f"/proc/{pid}/ns/net").exists():
        raise NoOutgoing("the container engine runs on another machine: the fake relays cannot "
                         "join its network")
    net = ipaddress.IPv4Network(subnet)
    if net.prefixlen > 26:
        raise NoOutgoing(f"the container network {subnet} is too small")
    bridge = _interface_with(gateway)
    inside = _interface_with(address, pid)
    upper = list(net.subnets(prefixlen_diff=1))[1]
    _ip("route", "add", "local", str(upper), "dev", bridge, "table", "local")

    def undo() -> None:
        subprocess.run(["ip", "route", "del", "local", str(upper), "dev", bridge, "table", "local"],
                       capture_output=True, check=False)

    try:
        extra = [str(net.network_address + _CLIENT_BASE + n) for n in range(2, 2 + len(CLIENT_NAMES) - 1)]
        if address in extra or gateway in extra:
            raise NoOutgoing(f"the container's address {address} is among the client addresses {extra}")
        _ip("-batch", "-", pid=pid,
            stdin="".join(f"addr add {a}/{net.prefixlen} dev {inside}\n" for a in extra))
    except BaseException:
        undo()
        raise
    clients = dict(zip(CLIENT_NAMES, [address, *extra], strict=True))
    return OutgoingNet(SubnetPool(str(a) for a in upper.hosts()), clients), undo
