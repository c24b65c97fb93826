"""Who holds a TCP port on this machine: the local cloud refuses a taken port before it starts anything, and
accepts an emulator as its own only if that very process is the one listening on the port.

Linux only (it reads ``/proc``, as the rest of the local cloud does). A port is *in use* when binding
127.0.0.1:PORT fails or any socket listens on PORT (any address, IPv4 or IPv6: the endpoints are
``http://localhost:PORT`` and ``localhost`` may resolve to ``::1``). The holders are the processes of this user
whose file descriptors include such a listening socket; another user's processes cannot be seen, so a port can
be in use with no known holder.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from localcloud.state import HOST, RUNTIME_MODULE, process_cmdline

EMULATOR_MODULE = "localcloud.moto_shims"  # localcloud.emulator.ENTRY_MODULE (not imported: it imports this)
LISTEN = "0A"  # TCP state of a listening socket in /proc/net/tcp*


def listening_inodes(port: int) -> set[int]:
    """Socket inodes listening on ``port`` on any local address."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            fields = row.split()
            if len(fields) > 9 and fields[3] == LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def bindable(port: int, host: str = HOST) -> bool:
    """A server could bind ``host:port`` now (with SO_REUSEADDR, as werkzeug's servers do: TIME_WAIT is fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _holds(pid: int | str, targets: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                return True
        except OSError:
            continue
    return False


def _socket_names(inodes: set[int]) -> set[str]:
    return {f"socket:[{inode}]" for inode in inodes}


def holders(port: int) -> set[int]:
    """PIDs (of processes this user can inspect) that hold a socket listening on ``port``."""
    targets = _socket_names(listening_inodes(port))
    if not targets:
        return set()
    return {int(entry) for entry in os.listdir("/proc") if entry.isdigit() and _holds(entry, targets)}


def listens(pid: int, port: int) -> bool:
    """Process ``pid`` itself holds a socket listening on ``port``: what answers there is that process."""
    targets = _socket_names(listening_inodes(port))
    return bool(targets) and _holds(pid, targets)


@dataclass(frozen=True)
class PortUse:
    port: int
    pids: frozenset[int]  # empty: in use, but by no process this user can see

    def held_only_by(self, pids: set[int]) -> bool:
        return bool(self.pids) and self.pids <= pids


def in_use(port: int) -> PortUse | None:
    """Who holds ``port``, or None when a local cloud server could take it."""
    if not listening_inodes(port) and bindable(port):
        return None
    return PortUse(port, frozenset(holders(port)))


def local_cloud_of(pid: int) -> tuple[str, Path] | None:
    """("emulator"|"runtime", state dir) if ``pid`` is a local cloud's server process, else None."""
    cmdline = process_cmdline(pid)
    if EMULATOR_MODULE in cmdline:
        try:  # localcloud.emulator.start runs it in <state dir>/emulator
            return "emulator", Path(os.readlink(f"/proc/{pid}/cwd")).parent
        except OSError:
            return None
    if RUNTIME_MODULE in cmdline:
        args = cmdline.split()
        if "--config" in args[:-1]:  # python -m localcloud.runtime --config <state dir>/runtime.json
            return "runtime", Path(args[args.index("--config") + 1]).parent
    return None


def describe(use: PortUse, own_root: Path | None = None) -> str:
    """Who holds the port: 'another local cloud's emulator (pid N, state dir D)' (or 'this local cloud's
    runtime' when D is ``own_root``), 'another program (pid N, nginx)', or just 'another program'."""
    for pid in sorted(use.pids):
        cloud = local_cloud_of(pid)
        if cloud is not None:
            whose = "this local cloud's" if own_root is not None and cloud[1] == own_root else "another local cloud's"
            return f"{whose} {cloud[0]} (pid {pid}, state dir {cloud[1]})"
    for pid in sorted(use.pids):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        return f"another program (pid {pid}, {name})"
    return "another program"


def other_clouds(uses: list[PortUse], own_root: Path | None = None) -> list[Path]:
    """State dirs of the other local clouds holding any of these ports (to say how to stop them)."""
    found: list[Path] = []
    for use in uses:
        for pid in sorted(use.pids):
            cloud = local_cloud_of(pid)
            if cloud is not None and cloud[1] != own_root and cloud[1] not in found:
                found.append(cloud[1])
    return found
