"""The part-of-speech table the quality metric's context rules read (gemmaiku.prosody.pos), and
its builder on tiny stand-ins for the two wheels."""

from __future__ import annotations

import gzip
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from gemmaiku.prosody import pos_build
from gemmaiku.prosody.pos import CLASSES, classes


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("same", "A"),  # an adjective, never a noun
        ("small", "M"),  # also a mass noun ("the small of the back"), never counted
        ("dark", "M"),
        ("red", "C"),  # also a count noun (reds)
        ("first", "C"),
        ("third", "Cv"),  # ordinals are fractions: "a third"
        ("top", "Cv"),  # a count noun both lexicons miss
        ("octopus", "N"),
        ("pigeon", "N"),
        ("sixes", "N"),  # plurals of number words
        ("line", "Nv"),  # most likely a noun, possibly a verb
        ("falls", "V"),  # most likely a verb
        ("the", ""),  # closed-class words are not in the table
        ("glorbnak", ""),
    ],
)
def test_classes(word: str, expected: str) -> None:
    assert classes(word) == expected


def test_table_names_its_sources_and_classes() -> None:
    text = (resources.files("gemmaiku.prosody") / "pos.txt").read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("Brill" in line for line in header) and any("LemmInflect" in line for line in header)
    assert any("CC-BY" in line for line in header)
    letters = {line.split()[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert letters == set(CLASSES)


def _wheel(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
    return path


def test_build_from_the_two_wheels(tmp_path: Path) -> None:
    brill = ";;; a comment\nsmall JJ\nred JJ\nsame JJ\nthird JJ\nline NN\nfalls VBZ\nThe DT\nabortion-related JJ\n"
    lemminflect = ("small,noun,small\nred,noun,reds\nline,noun,lines\nline,verb,lined,,lining,lines\n"
                   "fall,verb,fell,fallen,falling,falls\nOctopus,noun,Octopi\n")  # fmt: skip
    textblob = _wheel(tmp_path / "textblob.whl", pos_build.BRILL_MEMBER, brill.encode())
    infl = _wheel(tmp_path / "lemminflect.whl", pos_build.LEMMINFLECT_MEMBER, gzip.compress(lemminflect.encode()))
    out = tmp_path / "pos.txt"
    pos_build.main([str(textblob), str(infl), "--out", str(out)])
    table: dict[str, str] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            letter, *words = line.split()
            for word in words:
                table[word] = table.get(word, "") + letter
    assert table["small"] == "M" and table["red"] == "C" and table["same"] == "A"
    assert table["line"] == "Nv" and table["lines"] == "Nv"  # a plural, and a verb's third person
    assert table["falls"] == "V" and table["fell"] == "v" and "falling" not in table  # finite forms only
    assert table["sixes"] == "N" and table["third"] == "C"
    assert "the" not in table and "abortion-related" not in table and "octopus" not in table


def test_build_names_a_bad_input_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.whl"
    with pytest.raises(SystemExit, match=r"^gemmaiku: error: cannot read the lexicons .*give the two wheel files"):
        pos_build.main([str(missing), str(missing), "--out", str(tmp_path / "pos.txt")])
    assert not (tmp_path / "pos.txt").exists()
