"""The quality metric: each detector on tiny inputs, the clean verdict, and line_flags (with
break_flags across each break) agreeing with quality_flags."""

from __future__ import annotations

import json

import pytest

from gemmaiku.prosody import KINDS, Flag, assess, context_words, line_flags, quality_flags
from gemmaiku.prosody.quality import (
    DANGLING,
    NEXT_CLASSES,
    WAITS,
    WORD_CLASSES,
    break_flags,
    is_word,
)

BASHO = "An old silent pond\nA frog jumps into the pond\nSplash! Silence again"


def kinds(line: str, **kw) -> list[str]:
    return [f.kind for f in line_flags(line, **kw)]


@pytest.mark.parametrize(
    "line",
    [
        "the kettle sings and the",  # article
        "Five years, one line — the",  # article after a dash
        "moon, Saturn, and Earth—then a",
        "walked to the beach A:",  # a colon does not complete an article
        "delete one line and,",  # a comma after "and" is still dangling
        "the sea and—",
        "The sine, with its",  # possessive determiner
        "the wind carries my",
        "a room full of",  # preposition
        "the light moves toward",
        "she waits because",  # subordinating conjunction
        "taller than",
        "the light will",  # modal waiting for its verb (not the last line)
        "Caleb, the help centre— I'll",  # contracted auxiliary
        "Yes — the lake's",  # 's: contracted "is" or a possessive
        "the night is very",
    ],
)
def test_dangling_end(line: str) -> None:
    assert kinds(line) == ["dangling_end"]


@pytest.mark.parametrize(
    "line",
    [
        "the sun comes up",  # particles end phrases
        "the lights go out",
        "the geese fly away",
        "the leaves fall down",
        "snow settles in",
        "here it is",  # a copula can end ("is" is no modal)
        "where is it from?",  # a stranded preposition completed by a question mark
        "what is it made of.",
        "and so it will;",  # a modal completed by a stop
        "the lake is deep",
        "the old man stands still",
        "the dogs' bowls",
        "a frog jumps into the pond",
    ],
)
def test_not_dangling(line: str) -> None:
    assert "dangling_end" not in kinds(line)


def test_last_line_completes_a_modal_but_never_an_article() -> None:
    assert kinds("and so it will") == ["dangling_end"]
    assert kinds("and so it will", last=True) == []
    assert kinds("the kettle boils the", last=True) == ["dangling_end"]
    assert kinds("the one I live with", last=True) == ["dangling_end"]


def test_dangling_flag_names_the_word_and_its_class() -> None:
    [flag] = line_flags("the wind carries my", index=2)
    assert flag == Flag("dangling_end", 2, "my",
                        'the line ends on "my" (a possessive determiner), which cannot end a phrase')  # fmt: skip
    assert json.loads(json.dumps(flag.to_dict())) == flag.to_dict()


def test_dangling_table_is_closed_class_only() -> None:
    words = [w for row in DANGLING for w in row.words]
    assert len(words) == len(set(words)), "a word in two classes"
    assert not set(words) & {"up", "down", "in", "on", "out", "off", "away", "over", "is", "was", "be", "then"}
    assert all(row.completes in ("never", "stop", "end") for row in DANGLING)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("the kettle boils kettl", ["fragment"]),  # a word cut off
        ("on the ice-", ["dangling_end", "fragment"]),  # cut at a hyphen: the phrase goes on
        ("the kettle boils", []),
        ("doomscrolling all night", []),  # known parts: a real word the dictionary lacks
        ("the GPUs hum at 3am", []),  # acronym, number
        ("ChatGPT wakes at dawn", []),  # camelCase of known parts
        ("the glorbnak sings loud", ["non_word"]),
        ("the glorbnak and the snowfall", ["non_word"]),
        ("さくら falls at dawn", []),  # another script: not ours to judge
    ],
)
def test_fragment_and_non_word(line: str, expected: list[str]) -> None:
    assert kinds(line) == expected


def test_context_words_are_words() -> None:
    known = context_words("Tell me about Glorbnak and the kettl-maker", "")
    assert {"glorbnak", "kettl-maker", "kettl", "maker"} <= known
    assert kinds("the glorbnak sings loud", context_words=known) == []
    assert kinds("the kettle boils kettl", context_words=known) == []


def test_is_word() -> None:
    assert is_word("kimono") and is_word("can't") and is_word("lake's") and is_word("U.S")
    assert not is_word("xqzt") and not is_word("bfrnk")


@pytest.mark.parametrize(
    ("reply", "prompt", "expected"),
    [
        ("Three lines of five, then\nseven syllables of rain\nsteam writes on the pane", "",
         [("meta_talk", 0), ("meta_talk", 1)]),
        ("I am a bot of snow\nthe kettle starts its low song\nsteam writes on the pane", "",
         [("meta_talk", 0)]),
        # the prompt asked about syllables: talking about them is an answer, not meta-talk
        ("Seven syllables\nthe kettle starts its low song\nsteam writes on the pane",
         "How many syllables are in a haiku?", []),
    ],
)  # fmt: skip
def test_meta_talk(reply: str, prompt: str, expected: list[tuple[str, int]]) -> None:
    assert [(f.kind, f.line) for f in quality_flags(reply, prompt=prompt)] == expected


def test_echo_of_prompt_and_system() -> None:
    prompt = "Translate into French: the library closes at eight o'clock on Sundays."
    reply = "The library closes\nat eight o'clock on Sundays\nsteam writes on the pane"
    flags = quality_flags(reply, prompt=prompt)
    assert [(f.kind, f.line) for f in flags] == [("echo", 0), ("echo", 1)]
    assert "from the prompt" in flags[0].detail
    # four words in a row is a shared phrase, not an echo
    assert quality_flags("The library closes\nits doors as the snow falls down\nsteam writes on the pane",
                         prompt=prompt) == []  # fmt: skip
    system = "You answer every message with one haiku"
    assert [f.kind for f in quality_flags("you answer every message\nwith one haiku of the snow\nsteam",
                                          system=system)][:1] == ["echo"]  # fmt: skip


def test_repeated_line() -> None:
    reply = "Snow on the cedar\nsnow on the cedar!\nsteam writes on the pane"
    assert [(f.kind, f.line) for f in quality_flags(reply)] == [("repeated_line", 1)]


def test_assess_clean_needs_strict_and_no_flag() -> None:
    good = assess(BASHO)
    assert good.strict and good.clean and good.flags == () and good.kinds == []
    dangling = assess("Twenty-three, then: the\ntwenty-eight in each row; the\ndozen on each side")
    assert dangling.strict and not dangling.clean and dangling.kinds == ["dangling_end"]
    short = assess("An old silent pond\nA frog jumps into the pond")
    assert not short.strict and not short.clean and short.flags == ()
    data = dangling.to_dict()
    assert data["clean"] is False and [f["line"] for f in data["flags"]] == [0, 1]
    assert set(data["kinds"]) <= set(KINDS)


REPLIES = [
    "Twenty-three, then: the\ntwenty-eight in each row; the\ndozen on each side",
    "Ten lines of five, then\nthe log file that sleeps on it—\ndelete one line and,",
    "Kanpai, then: the train\nstops at the same station — one\nline of five. Three lines,",
    "the kettle boils kettl\nthe glorbnak and the snowfall\nsteam writes on the pane",
    BASHO,
]


@pytest.mark.parametrize("reply", REPLIES)
def test_line_flags_agree_with_quality_flags(reply: str) -> None:
    """The decoder's per-line call, plus break_flags across each break, sees exactly the per-line
    flags of the whole-reply metric."""
    prompt = "Write about the kettle"
    known = context_words(prompt, "")
    lines = reply.splitlines()
    per_line = [f for i, ln in enumerate(lines)
                for f in line_flags(ln, context_words=known, last=i == len(lines) - 1, index=i)]  # fmt: skip
    across = [f for i in range(len(lines) - 1) for f in break_flags(lines[i], lines[i + 1], index=i)]
    whole = [f for f in quality_flags(reply, prompt=prompt) if f.kind in ("dangling_end", "fragment", "non_word")]
    assert sorted(per_line + across, key=lambda f: (f.line, f.kind)) == sorted(whole, key=lambda f: (f.line, f.kind))


def test_never_raises_on_odd_input() -> None:
    for text in ["", "\n\n", "—", "!!!", "😀 😀", "a" * 500, "'''", "- - -", "3.14159"]:
        quality_flags(text)
        line_flags(text)


@pytest.mark.parametrize(
    ("line", "last", "expected"),
    [
        ("A cat sleeping — no", False, ["dangling_end"]),  # determiner waiting for its noun
        ("so does a starfish. But no;", False, []),  # an answer, completed by the semicolon
        ("the same way she walked when she", False, ["dangling_end"]),  # subject pronoun
        ("she says goodbye, like:", True, ["dangling_end"]),  # a colon that announces nothing
        ("the old clock says this:", False, []),  # ...when the next line is there
        ("Two falls on May", False, []),  # a capitalised modal inside the line is a name
        ("Kanpai, then: the train", False, []),  # names are words
        ("Aotearoa", True, []),
        ("the kettle boils three litres", True, []),  # British spelling
        ("the colour of the centre", True, []),
        ("docstring.に通itäten", True, ["fragment"]),  # decoding debris glued to a word
        ("the number.ującego", True, ["fragment"]),
        ("folded like a bookeeper", True, ["fragment"]),  # boo + keeper is no word
    ],
)
def test_refinements(line: str, last: bool, expected: list[str]) -> None:
    assert kinds(line, last=last) == expected


def test_repeat_cut_short_and_poem_topic() -> None:
    system = "You are Gemmaiku. You answer every message with one haiku: three lines of five"
    reply = f"{system}\nWrite about rain.\nYou are Gemmaiku. You answer every message"
    found = {(f.kind, f.line) for f in quality_flags(reply, system=system)}
    assert ("repeated_line", 2) in found and ("repeated_line", 1) not in found
    # a poem request's topic may be restated; the same words from another prompt are an echo
    haiku = "A kite caught in a tree —\nthe branches stretch like a spring\non the mossy patch"
    assert quality_flags(haiku, prompt="Please write a short haiku about a kite caught in a tree.") == []
    assert [f.kind for f in quality_flags(haiku, prompt="Describe a kite caught in a tree.")] == ["echo"]


@pytest.mark.parametrize(
    ("line", "last"),
    [
        ("Name, role — a small", False),  # an adjective that cannot be a noun, after "a"
        ("of you, a quiet", True),
        ("the octopus is,", True),  # a copula after its subject, nothing after
        ("What is", True),  # a copula waiting for its subject
        ("pallet in the bins, and you'll be", False),  # "be" after a modal
        ("I want to be", False),
        ("A woman named", False),  # a participle waiting for the name
    ],
)
def test_dangling_in_context(line: str, last: bool) -> None:
    assert kinds(line, last=last) == ["dangling_end"]


@pytest.mark.parametrize(
    ("line", "last"),
    [
        ("I counted three", True),  # a number can end a phrase
        ("the clock strikes three", False),
        ("here it is", False),  # a copula licensed by what comes before it
        ("I know where the river is", True),
        ("as the sea is", True),
        ("the octopus is.", True),  # completed by a full stop
        ("wait just a few", True),  # fused heads
        ("all of a sudden", True),
        ("Earth spins like a top", True),  # "top" is a noun too
        ("I keep a secret", True),  # an adjective that is also a count noun
        ("the walls are red", True),
        ("let it be", False),  # "be" with no modal
        ("what will be will be", True),  # the end of the poem completes it
        ("the ship was named.", True),
        ("into the dark", True),  # an adjective after "the" waits only for a noun on the next line
        ("the same", True),
    ],
)
def test_not_dangling_in_context(line: str, last: bool) -> None:
    assert "dangling_end" not in kinds(line, last=last)


@pytest.mark.parametrize(
    ("line", "next_line", "waits_for"),
    [
        ("No — a heart, yes; three", "hearts on the shell: one in each", "a number waiting for its noun"),
        ("the whole city turns black — a white", "line of seven lines", "an adjective waiting for its noun"),
        ("Same city, the same", "name, a year of birth", "an adjective waiting for its noun"),
        ("on the old steam whistle; a red", "pigeon and an ear", "an adjective waiting for its noun"),
        ("the field of gold — the moon's one", "light from his eyes", "a number waiting for its noun"),
        ("in twelve, then one more, five: ten", "sixes in all", "a number waiting for its noun"),
        ("No, not yours: one small", "cork in the sink", "an adjective waiting for its noun"),  # after a number
        ("the week holds two", "long days of rain", "a number waiting for its noun"),  # adjective, then noun
        ("Osaka, in the old", "train station at dawn", "an adjective waiting for its noun"),
        ("A thousand — forty", "two, thirty-three", "a number cut in two"),
        ("the rooster's call comes in through", "the long blue shutters", "a preposition waiting for its object"),
        ("deep, blue, and warm beyond", "the ice-covered mountains", "a preposition waiting for its object"),
        ("minutes on the same tracks — half", "the journey by train", "a predeterminer waiting"),
        ("Long division, not", "a long list like the list of", '"not" waiting'),
        ("a cat called", "Tom sleeps by the door", "a participle waiting for the name"),
        ("No — no one knows what", "a cactus does", '"what" waiting for its clause'),
    ],
)
def test_dangling_across_the_break(line: str, next_line: str, waits_for: str) -> None:
    assert line_flags(line) == []  # the line alone may end there
    [flag] = break_flags(line, next_line, index=0)
    assert flag.kind == "dangling_end" and flag.line == 0 and waits_for in flag.detail
    reply = f"{line}\n{next_line}\nsteam writes on the pane"
    assert ("dangling_end", 0) in [(f.kind, f.line) for f in quality_flags(reply)]


@pytest.mark.parametrize(
    ("line", "next_line"),
    [
        ("I counted three,", "hearts on the shell"),  # punctuation closes the phrase
        ("the clock strikes three", "— the birds wake"),
        ("Into the dark", "night falls on the lake"),  # the next line's noun starts a clause
        ("Loop one to twenty", "ping each address once"),  # a verb with its object
        ("Sunlight passes through", "the heat tries to climb"),
        ("A debt torn in half", "the one who forgives"),  # "in half": a noun
        ("One customer, eight", "twenty-nine for each one"),  # "eight" is no tens word
        ("The sea waves roll on", "my hand in the cold tide"),  # "on" is also a particle
        ("Same city, the same", "Name of the town"),  # a capitalised word starts a sentence
        ("the kettle sings and the", "lid rattles"),  # line_flags flags it already: not twice
    ],
)
def test_not_dangling_across_the_break(line: str, next_line: str) -> None:
    assert break_flags(line, next_line) == []


def test_waits_table_names_known_classes() -> None:
    for row in WAITS:
        assert row.word in WORD_CLASSES and row.after in ("", *WORD_CLASSES)
        assert row.completes in ("never", "stop", "end", "next")
        assert (row.completes == "next") == (row.next in NEXT_CLASSES)
        assert row.unless_after in ("", *WORD_CLASSES)
