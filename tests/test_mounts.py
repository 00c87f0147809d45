"""Whether a tree can hold one directory twice, read from mount tables (`wizard.host.mounts`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wizard.host import mounts
from wizard.host.mounts import may_repeat_directories

# Lines as /proc/self/mountinfo writes them: id, parent, major:minor, root, mount point, ...
ROOT_FS = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"
DATA_FS = "40 22 8:17 / /srv rw,relatime shared:7 - xfs /dev/sdb1 rw"


def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    path = tmp_path / "mountinfo"
    path.write_text("".join(line + "\n" for line in lines))
    monkeypatch.setattr(mounts, "MOUNTINFO", str(path))


def test_no_mount_inside_the_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table(tmp_path, monkeypatch, ROOT_FS, DATA_FS)
    assert not may_repeat_directories("/srv/docs")
    assert not may_repeat_directories("/home/me/docs")


def test_another_filesystem_mounted_inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nfs = "50 40 0:52 / /srv/docs/share rw - nfs4 host:/export rw"
    table(tmp_path, monkeypatch, ROOT_FS, DATA_FS, nfs)
    assert not may_repeat_directories("/srv/docs")


def test_a_bind_mount_of_the_trees_own_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bind = "51 40 8:17 /docs/a /srv/docs/b/again rw - xfs /dev/sdb1 rw"
    table(tmp_path, monkeypatch, ROOT_FS, DATA_FS, bind)
    assert may_repeat_directories("/srv/docs")
    assert may_repeat_directories("/srv/docs/b")  # the tree is on /srv's filesystem too
    assert not may_repeat_directories("/srv/docs/a")  # the mount is not inside it


def test_one_filesystem_mounted_twice_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usb = ["52 22 8:33 / /home/me/docs/usb rw - vfat /dev/sdc1 rw",
           "53 22 8:33 /photos /home/me/docs/photos rw - vfat /dev/sdc1 rw"]  # fmt: skip
    table(tmp_path, monkeypatch, ROOT_FS, *usb)
    assert may_repeat_directories("/home/me/docs")
    assert not may_repeat_directories("/home/me/docs/usb")


def test_mount_points_with_spaces_are_read_unescaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bind = r"51 40 8:17 /x /srv/my\040docs/again rw - xfs /dev/sdb1 rw"
    table(tmp_path, monkeypatch, ROOT_FS, DATA_FS, bind)
    assert may_repeat_directories("/srv/my docs")
    assert not may_repeat_directories("/srv/my")


def test_an_unreadable_table_is_the_careful_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounts, "MOUNTINFO", str(tmp_path / "missing"))
    assert may_repeat_directories("/srv/docs")


def test_this_machines_own_table_is_read() -> None:
    assert not may_repeat_directories("/definitely/not/a/mount/point/here")
