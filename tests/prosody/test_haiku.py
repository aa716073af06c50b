"""check_haiku: strict 5-7-5 verdicts, named reasons, chatter both ways, distance."""

from __future__ import annotations

import json

import pytest

from gemmaiku.prosody import TARGETS, chatter_kind, check_haiku, rank_haiku

BASHO = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"
VALID = [
    BASHO,
    "Autumn moonlight falls\na worm digs silently in\nto the chestnut shell",
    "The blockchain hums on\nthe GPUs burn all night\ndoomscrolling till dawn",
    "Here the river bends\nwhere the heron waits for fish\nsure of the slow tide",
    "1999\nwe danced until the sun rose\nfire in the sky",
    "  An old silent pond  \n\nA frog jumps into the pond\n\n\nSplash! Silence again\n",
    "An old silent pond\r\nA frog jumps into the pond\r\nSplash! Silence again",
]


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    verdict = check_haiku(text)
    assert verdict.ok, verdict.reasons
    assert verdict.distance == 0
    assert verdict.reasons == []
    assert [line.target for line in verdict.lines] == list(TARGETS)


def test_verdict_details() -> None:
    verdict = check_haiku(BASHO)
    assert [line.text for line in verdict.lines] == BASHO.split("\n")
    assert verdict.line_counts == [(5,), (7,), (5,)]
    assert [w.text for w in verdict.lines[2].words] == ["Splash", "Silence", "again"]
    data = verdict.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert set(data) >= {"ok", "distance", "reasons", "codes", "lines", "chatter", "text"}
    assert data["lines"][1]["counts"] == [7]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("An old silent pond\nA frog jumps into the pond", "expected 3 lines, got 2"),
        (BASHO + "\nThe end of the poem now", "expected 3 lines, got 4"),
        ("An old pond\nA frog jumps into the pond\nSplash! Silence again",
         "line 1 has 3 syllables (needs 5)"),
        ("An old silent pond\nA frog jumps into the deep pond\nSplash! Silence again",
         "line 2 has 8 syllables (needs 7)"),
        ("Old pond\nA frog jumps into the pond\nSplash! Silence again",
         "line 1 has 2 syllables (needs 5)"),
        ("", "empty: no text"),
        ("\n \n\t\n", "empty: no text"),
    ],
)  # fmt: skip
def test_named_reasons(text: str, reason: str) -> None:
    verdict = check_haiku(text)
    assert not verdict.ok
    assert reason in verdict.reasons
    assert verdict.distance > 0


def test_four_seven_five_fails_line_one_only() -> None:
    verdict = check_haiku("An old still pond\nA frog jumps into the pond\nSplash! Silence again")
    assert verdict.codes == ["syllables"]
    assert verdict.reasons == ["line 1 has 4 syllables (needs 5)"]
    assert verdict.distance == 1


def test_closest_count_is_reported() -> None:
    # "fire" is 1 or 2: a line that can be 3 or 4 reports 4, the count nearest 5.
    verdict = check_haiku("fire on the hill\nA frog jumps into the pond\nSplash! Silence again")
    assert verdict.ok
    verdict = check_haiku("fire on hills\nA frog jumps into the pond\nSplash! Silence again")
    assert verdict.reasons == ["line 1 has 4 syllables (needs 5)"]


CHATTY = [
    ("Sure! Here is a haiku:\n" + BASHO, "preamble"),
    ("Here's a haiku about frogs:\n\n" + BASHO, "preamble"),
    ("Certainly, here is your poem.\n" + BASHO, "preamble"),
    ("Of course!\n" + BASHO, "preamble"),
    ("A haiku about autumn:\n" + BASHO, "preamble"),
    ("Title: The Pond\n" + BASHO, "title"),
    ("Haiku #3: The Pond\n" + BASHO, "title"),
    ("# The Pond\n" + BASHO, "title"),
    ("The Frog\n\n" + BASHO, "title"),
    (BASHO + "\nI hope you enjoy it!", "postscript"),
    (BASHO + "\n\nNote: the frog is a symbol of change.", "postscript"),
    (BASHO + "\nLet me know if you'd like another!", "postscript"),
    (BASHO + "\nThis haiku captures a moment of stillness.", "postscript"),
    (BASHO + "\n(5-7-5)", "postscript"),
    ('"' + BASHO + '"', "quotes"),
    ("\u201c" + BASHO + "\u201d", "quotes"),
    ("```\n" + BASHO + "\n```", "markdown"),
    ("**" + BASHO.replace("\n", "**\n**") + "**", "markdown"),
    ("> " + BASHO.replace("\n", "\n> "), "markdown"),
    ("- " + BASHO.replace("\n", "\n- "), "markdown"),
    (BASHO.replace("pond\n", "pond (5)\n", 1), "annotation"),
    (
        "Line 1: "
        + BASHO.replace("\n", "\nLine 2: ", 1).replace("pond\nSplash", "pond\nLine 3: Splash"),
        "markdown",
    ),
    (BASHO + "\nIn this haiku, the frog breaks the silence.", "postscript"),
    (BASHO + "\nThe poem contrasts sound and stillness.", "postscript"),
    (BASHO + "\n\u2014 Matsuo Bash\u014d", "attribution"),
    (BASHO.replace("\n", "<br>\n"), "markdown"),
    ("\n\nThe Frog\n\n" + BASHO, "title"),
    (BASHO.replace("\n", " / "), "slashes"),
    ("<start_of_turn>model\n" + BASHO + "<end_of_turn>", "template"),
    ("I'm sorry, but I can't write that.\n" + BASHO, "refusal"),
]


@pytest.mark.parametrize(("text", "kind"), CHATTY)
def test_chatter_fails_strict_and_passes_lenient(text: str, kind: str) -> None:
    strict = check_haiku(text)
    assert not strict.ok
    assert "chatter" in strict.codes
    assert any(kind in note for note in strict.chatter), strict.chatter
    lenient = check_haiku(text, strict=False)
    assert lenient.ok, lenient.reasons
    assert [line.text for line in lenient.lines] == BASHO.split("\n")
    assert lenient.chatter == strict.chatter


@pytest.mark.parametrize(
    "line",
    [
        "Here the river bends",
        "Here's to the long night",
        "Here is the old pond",
        "Sure as the sunrise",
        "Of course the rain falls",
        "Enjoy the cherry blossoms",
        "I hope the rain will come",
        "Note the falling leaves",
        "Title of the sky",
        "My verses fade like snow",
        "Let the frog jump in",
        "- falling petals -",
        "five, seven, five steps",
        "The poem of the rain",
        "This verse of the wind",
        "My poem is the sea",
        "I cannot sleep tonight",
        "I'm sorry for the rain",
    ],
)
def test_haiku_lines_are_not_chatter(line: str) -> None:
    assert chatter_kind(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "Sure! Here is a haiku:",
        "Here's a haiku about the ocean:",
        "Here is a haiku for you",
        "I've written a haiku about autumn.",
        "Certainly!",
        "I hope you enjoy it!",
        "Hope you like this haiku!",
        "Enjoy!",
        "Note: haiku follow a 5-7-5 pattern.",
        "This poem uses a seasonal word.",
        "Would you like another one?",
        "Title: Autumn",
        "As an AI language model, I cannot write poems.",
        "I can't help with that request.",
    ],
)
def test_chatter_lines(line: str) -> None:
    assert chatter_kind(line) is not None


PROSE = [
    "The ocean is a vast body of salt water that covers most of the surface of the Earth and "
    "holds most of its life.",
    "I think that haiku are short poems.\nThey usually have three lines and seventeen syllables "
    "in total.",
    "word " * 400,
    "The capital of France is Paris, which is known for its\nart, fashion, and culture. It is "
    "also home to the\nEiffel Tower and many museums, cafes and parks.",
]


@pytest.mark.parametrize("text", PROSE)
def test_prose(text: str) -> None:
    verdict = check_haiku(text)
    assert not verdict.ok
    assert "prose" in verdict.codes
    assert not check_haiku(text, strict=False).ok


def test_huge_block_is_prose_without_counting() -> None:
    verdict = check_haiku(BASHO + "\n" + "la " * 1_000_000)
    assert verdict.codes == ["prose"]
    assert verdict.lines == []


def test_distance_ranks_candidates() -> None:
    best = check_haiku(BASHO)
    near = check_haiku("An old still pond\nA frog jumps into the pond\nSplash! Silence again")
    chatty = check_haiku("Sure! Here is a haiku:\n" + BASHO)
    far = check_haiku("pond\nfrog")
    assert best.distance < near.distance < chatty.distance < far.distance
    # 1 syllable short on line 1; a chatter line (3) plus an extra line (5); two lines off
    # by 4 and 6 plus a missing line (5).
    assert (near.distance, chatty.distance, far.distance) == (1, 8, 15)


def test_rank_haiku_best_first() -> None:
    candidates = [
        "pond\nfrog",
        "Sure! Here is a haiku:\n" + BASHO,
        BASHO,
        BASHO.replace("silent ", ""),
    ]
    ranked = rank_haiku(candidates)
    assert [v.text for v in ranked] == [candidates[2], candidates[3], candidates[1], candidates[0]]
    assert ranked[0].ok
