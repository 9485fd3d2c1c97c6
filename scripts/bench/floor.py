"""The launcher's glibc floor, measured (called by scripts/bench-floor.sh, which builds what
it needs): warm start and size of one artifact with the launcher linked natively on this
machine (before: glibc 2.34+), with zig for glibc 2.17 (what pyk builds now) and linked
statically (the option not taken); then `pyk foo` in the Debian 11 root against the same on
this machine.

Usage: floor.py WORK HELLO NATIVE STATIC [PYK ROOT PORT]
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure  # noqa: E402


def with_launcher(artifact: bytes, launcher: bytes) -> bytes:
    """The artifact with another launcher: layer offsets in the trailer shift by the
    difference (the trailer's last line holds its own length, unchanged in digits)."""
    size = int(artifact[-17:-9], 16)
    trailer = artifact[-size:].decode()
    first = int(re.search(r"^layer \w+ (\d+) ", trailer, re.M).group(1))
    delta = len(launcher) - first

    def shift(m):
        return f"{m.group(1)}{int(m.group(2)) + delta} "

    new = re.sub(r"^((?:layer \w+|lock) )(\d+) ", shift, trailer, flags=re.M)
    head = new[: -len("00000000 PYKTRL02")]
    new = head + f"{len(head) + 17:08x} PYKTRL02"
    assert new.endswith(trailer[-8:])
    return launcher + artifact[first:-size] + new.encode()


def pairwise(a, b):
    return statistics.median(x / y for x, y in zip(a, b))


def main():
    work, hello, native, static = map(Path, sys.argv[1:5])
    built = hello.read_bytes()
    size = int(built[-17:-9], 16)
    first = int(re.search(rb"^layer \w+ (\d+) ", built[-size:], re.M).group(1))
    variants = {"zig 2.17": built[:first], "native": native.read_bytes(), "static": static.read_bytes()}
    cmds = []
    cache = work / "cache"
    for label, launcher in variants.items():
        path = work / label.replace(" ", "-")
        path.write_bytes(with_launcher(built, launcher))
        path.chmod(0o755)
        cmds.append(measure.Cmd(label, [str(path)], env={"PYK_CACHE_DIR": str(cache)}))
    for c in cmds:
        ok, out = measure.check(c)
        assert ok, out
    measure.interleaved(cmds, rounds=int(os.environ.get("ROUNDS", "60")))
    base = cmds[1]
    print(f"launcher and artifact sizes ({hello.name}, {len(built)} bytes with zig's launcher):")
    for (label, launcher), c in zip(variants.items(), cmds):
        print(f"  {label:9} launcher {len(launcher):>8} B  artifact {len(built) - first + len(launcher):>9} B"
              f"  warm wall {measure.median(c.wall) * 1e3:6.2f} ms  cpu {measure.median(c.cpu) * 1e3:6.2f} ms"
              f"  vs native: wall {pairwise(c.wall, base.wall):.3f}x  cpu {pairwise(c.cpu, base.cpu):.3f}x")
    if len(sys.argv) > 5:
        pyk, root, url = sys.argv[5], sys.argv[6], sys.argv[7]
        env = {"PYK_SERVER": url, "PYK_KEY": "bench", "PYK_TIMEOUT": "5"}
        host = measure.Cmd("host", ["/usr/sbin/chroot", "/", pyk, "bench39"],
                           env={**env, "PYK_CACHE_DIR": str(work / "host-cache"), "HOME": str(work)})
        old = measure.Cmd("debian 11", ["/usr/sbin/chroot", root, "/mnt/pyk", "bench39"],
                          env={**env, "PYK_CACHE_DIR": "/mnt/old-cache", "HOME": "/mnt"})
        for c in (host, old):
            ok, out = measure.check(c)
            assert ok, out
        measure.interleaved([host, old], rounds=int(os.environ.get("ROUNDS", "60")))
        print(f"`pyk bench39` warm, through `pyk serve` on 127.0.0.1 (both via chroot):")
        for c in (host, old):
            print(f"  {c.label:9} wall {measure.median(c.wall) * 1e3:6.2f} ms  cpu {measure.median(c.cpu) * 1e3:6.2f} ms")
        print(f"  debian 11 / host: wall {pairwise(old.wall, host.wall):.3f}x  cpu {pairwise(old.cpu, host.cpu):.3f}x")


main()
