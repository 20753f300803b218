"""Discovery: labels from folders, groups from names, junk ignored, clear errors."""

from __future__ import annotations

import csv
import os
import re

import pytest

from pose_action.errors import InputError
from pose_action.extraction.discovery import discover
from pose_action.layout import check_key


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


# --- issue 12: names from input become output paths --------------------------------------------

@pytest.mark.parametrize("label, problem", [
    ("../../outside", "holds a path separator"),
    ("..", "is '..'"),
    ("/etc", "holds a path separator"),  # absolute: pathlib would drop the output root
    ("a\\b", "holds a path separator"),
    ("Wave\nJump", "holds a control character"),
    ("\x1b[31mRed", "holds a control character"),
    ("gpj.\u202eexe", "holds a control character"),  # reads as "exe.jpg"
    (".hidden", "starts with a dot"),
    ("   ", "is empty"),
    ("x" * 300, "is longer than"),
])
def test_list_labels_that_would_leave_the_output_folder_are_refused(tmp_path, label, problem):
    (tmp_path / "a.avi").write_bytes(b"x")
    listing = tmp_path / "list.csv"
    with open(listing, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["path", "label"], ["a.avi", "Wave"], ["a.avi", label]])
    with pytest.raises(InputError, match=f"line 3: label .* {problem}") as error:
        discover(listing)
    assert str(listing) in str(error.value)


@pytest.mark.parametrize("name", ["bad\nname.avi", "tab\there.avi", "..avi.", "\x7f.mp4"])
def test_list_file_names_that_cannot_be_output_names_are_refused(tmp_path, name):
    listing = tmp_path / "list.csv"
    with open(listing, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["path", "label"], [name, "Wave"]])
    with pytest.raises(InputError, match="line 2: video .*file name"):
        discover(listing)


@pytest.mark.parametrize("content, message", [(b"path,label\n\xff\xfe.avi,Wave\n", "not a UTF-8 text CSV"),
                                              (b"path,label\na\x00.avi,Wave\n", "line 2: .* control character")])
def test_a_binary_video_list_is_one_line(tmp_path, content, message):
    listing = tmp_path / "list.csv"
    listing.write_bytes(content)
    with pytest.raises(InputError, match=message):
        discover(listing)


@pytest.mark.parametrize("name", ["new\nline.avi", "esc\x1bape.mp4", b"not-utf8-\xff.avi"])
def test_file_names_with_control_characters_or_bad_bytes_fail_alone(tmp_path, name):
    """A newline in a name broke resume (the manifest rewrote the key), and refusing it stopped the whole batch
    (issue 22): such a video is set aside as failed, under a printable escaped key; the others go on."""
    (tmp_path / "Wave").mkdir()
    (tmp_path / "Wave" / "v_Wave_g01_c01.avi").write_bytes(b"x")
    if isinstance(name, bytes):
        target = os.path.join(os.fsencode(tmp_path / "Wave"), name)
    else:
        target = tmp_path / "Wave" / name
    with open(target, "wb") as handle:
        handle.write(b"x")
    found = discover(tmp_path)
    assert [item.key for item in found.items] == ["Wave/v_Wave_g01_c01"]
    [bad] = found.bad_names
    assert re.fullmatch(r"file name (holds a control character|is not valid UTF-8).*; rename it.*", bad.reason)
    assert bad.key.startswith("Wave/") and "%" in bad.key and check_key(bad.key) == bad.key


def test_a_folder_of_only_badly_named_videos_is_one_line(tmp_path):
    (tmp_path / "Wave").mkdir()
    (tmp_path / "Wave" / "new\nline.avi").write_bytes(b"x")
    with pytest.raises(InputError, match="file name holds a control character"):
        discover(tmp_path)


@pytest.mark.parametrize("names", [("Walk/a.avi", "walk/b.avi"), ("Wave/CLIP.AVI", "Wave/clip.mkv"),
                                   ("Wave/sub/Clip.avi", "Wave/clip.mp4")])
def test_names_that_differ_only_by_case_are_refused_naming_both(tmp_path, names):
    """One folder or file on macOS and Windows: a features folder copied there would lose a clip."""
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(InputError, match="only by case") as error:
        discover(tmp_path)
    assert all(str(tmp_path / name.split("/")[0]) in str(error.value) for name in names)
    assert str(tmp_path / names[0]).rsplit("/", 1)[0] in str(error.value)


@pytest.mark.parametrize("name", ["CON/a.avi", "Wave/nul.mp4", "Wave/aux.take1.avi", "Wave/Com3.avi", "lpt9/x.avi"])
def test_windows_device_names_are_refused(tmp_path, name):
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "Wave").mkdir(exist_ok=True)
    (tmp_path / "Wave" / "v_Wave_g01_c01.avi").write_bytes(b"x")
    with pytest.raises(InputError, match="device name Windows reserves"):
        discover(tmp_path)


def test_a_repeated_row_of_a_video_list_names_its_line(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("path,label\na.avi,Wave\nb.avi,Wave\nA.avi,Wave\n")
    with pytest.raises(InputError, match=r"list.csv: line 4 repeats line 2"):
        discover(listing)
    listing.write_text("path,label\na.avi,Wave\nb.avi,wave\n")
    with pytest.raises(InputError, match=r"line 3: label 'wave' and 'Wave' \(line 2\) differ only by case"):
        discover(listing)


def test_names_with_spaces_keep_them_exactly(tmp_path):
    (tmp_path / "Jump Rope").mkdir()
    (tmp_path / "Jump Rope" / " two  spaces .avi").write_bytes(b"x")
    item = discover(tmp_path).items[0]
    assert item.key == "Jump Rope/ two  spaces "


def test_videos_in_symlinked_sub_folders_are_found_once(tmp_path):
    """Videos inside a symlinked sub-folder of a class were skipped without being counted."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "v_Run_g03_c01.avi").write_bytes(b"x")
    root = tmp_path / "videos"
    (root / "Run").mkdir(parents=True)
    (root / "Run" / "v_Run_g01_c01.avi").write_bytes(b"x")
    (root / "Run" / "more").symlink_to(elsewhere, target_is_directory=True)
    (root / "Run" / "loop").symlink_to(root / "Run", target_is_directory=True)  # a cycle: searched once
    found = discover(root)
    assert sorted(item.key for item in found.items) == ["Run/v_Run_g01_c01", "Run/v_Run_g03_c01"]
    assert found.ignored == 0
