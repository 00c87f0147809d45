"""Whether a directory tree can hold one directory twice: a bind mount of a part of itself, or
two mounts of one filesystem inside it (read from /proc/self/mountinfo). Without such mounts
every directory has one path in the tree, so parts of a walk done apart never meet."""

from __future__ import annotations

MOUNTINFO = "/proc/self/mountinfo"


def may_repeat_directories(root: str) -> bool:
    """True when a directory under the real path `root` may be reached by two paths: a mount
    inside it of a filesystem that is mounted again inside it, or that `root` itself is on.
    True as well when the mount table cannot be read (the careful answer)."""
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as file:
            table = [_device_and_point(line) for line in file if line.strip()]
    except (OSError, IndexError):
        return True
    base = root.rstrip("/") + "/"
    inside = [device for device, point in table if point.startswith(base)]
    if not inside:
        return False
    # The mount `root` is on: the longest mount point that is `root` or above it (the last of
    # those, when one is mounted over another).
    on, longest = None, -1
    for device, point in table:
        if base.startswith(point.rstrip("/") + "/") and len(point) >= longest:
            on, longest = device, len(point)
    devices = inside if on is None else [*inside, on]
    return len(set(devices)) < len(devices)


def _device_and_point(line: str) -> tuple[str, str]:
    """(major:minor, mount point) of one mountinfo line; the point's spaces, tabs, newlines and
    backslashes are written as octal escapes there."""
    fields = line.split(" ")
    return fields[2], _unescape(fields[4])


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    parts = text.split("\\")
    out = [parts[0]]
    for part in parts[1:]:
        code, rest = part[:3], part[3:]
        out.append(chr(int(code, 8)) + rest if len(code) == 3 and code.isdigit() else "\\" + part)
    return "".join(out)
