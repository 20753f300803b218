"""Discovery: labels from folders, groups from names, junk ignored, clear errors."""

from __future__ import annotations

import pytest

from pose_action.extraction.discovery import discover
from pose_action.errors import InputError


def test_ucf_layout_labels_groups_and_ignored_files(tmp_path):
    for name in ["v_Run_g01_c01.avi", "v_Run_g02_c01.MP4", "v_Jump_g01_c03.mkv"]:
        label = name.split("_")[1]
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / name).write_bytes(b"x")
    (tmp_path / "Run" / "notes.txt").write_text("hi")
    (tmp_path / "Run" / ".hidden.avi").write_bytes(b"x")
    (tmp_path / "Jump" / "no_group_here.webm").write_bytes(b"x")
    found = discover(tmp_path)
    assert [(i.label, i.group, i.key) for i in found.items] == [
        ("Jump", "no_group_here", "Jump/no_group_here"),
        ("Jump", "01", "Jump/v_Jump_g01_c03"),
        ("Run", "01", "Run/v_Run_g01_c01"),
        ("Run", "02", "Run/v_Run_g02_c01"),
    ]
    assert found.ignored == 2
    assert found.ungrouped == ["Jump/no_group_here"]
    assert [item.group_from for item in found.items] == ["stem", "pattern", "pattern", "pattern"]


def test_csv_list_input(tmp_path):
    (tmp_path / "a.avi").write_bytes(b"x")
    listing = tmp_path / "list.csv"
    listing.write_text("path,label,group\na.avi,Wave,7\n")
    item = discover(listing).items[0]
    assert (item.path, item.label, item.group, item.group_from) == (tmp_path / "a.avi", "Wave", "7", "list")


def test_shared_ud810_groups_are_people(shared_videos):
    found = discover(shared_videos / "ud810_ps7", group_pattern=r"P(\d+)T")
    assert len(found.items) == 27
    assert {i.group for i in found.items} == {"1", "2", "3"}
    assert {i.label for i in found.items} == {"A1", "A2", "A3"}


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_root_is_input_error(tmp_path, make):
    root = tmp_path / "videos"
    if make == "empty":
        root.mkdir()
    with pytest.raises(InputError, match=str(root)):
        discover(root)
