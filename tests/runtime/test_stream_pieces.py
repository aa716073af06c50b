import pytest

from gemmaiku.errors import GemmaikuError
from gemmaiku.runtime.engine import StopMatcher, Utf8Decoder
from gemmaiku.runtime.options import GenerationOptions, options_from


def feed_all(matcher: StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = []
    for piece in pieces:
        emit, stopped = matcher.feed(piece)
        out.append(emit)
        if stopped:
            return "".join(out), True
    return "".join(out) + matcher.flush(), False


def test_stop_string_split_across_tokens_is_cut_before_it():
    text, stopped = feed_all(StopMatcher(["<end_of_turn>"]), ["snow on ", "the pine<end", "_of_", "turn>more"])
    assert (text, stopped) == ("snow on the pine", True)


def test_text_that_only_looks_like_a_stop_prefix_is_released():
    text, stopped = feed_all(StopMatcher(["<end_of_turn>"]), ["a <e", "cho> b"])
    assert (text, stopped) == ("a <echo> b", False)


def test_earliest_of_several_stops_wins():
    text, stopped = feed_all(StopMatcher(["\n\n", "###"]), ["one ### two\n\nthree"])
    assert (text, stopped) == ("one ", True)


def test_held_back_prefix_is_flushed_at_the_end():
    matcher = StopMatcher(["<end_of_turn>"])
    assert matcher.feed("frost<end") == ("frost", False)
    assert matcher.flush() == "<end"


def test_utf8_decoder_joins_a_character_split_across_tokens():
    decoder = Utf8Decoder()
    data = "café 🌸".encode()
    pieces = [decoder.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(pieces) + decoder.flush() == "café 🌸"
    assert pieces[3] == ""  # first byte of é is held until its second byte arrives


def test_options_take_ollama_names():
    options = options_from({"temperature": 0.2, "top_k": 5, "stop": "<end_of_turn>", "unknown": 1})
    assert options.stop == ["<end_of_turn>"] and (options.temperature, options.top_k) == (0.2, 5)


def test_out_of_range_option_is_one_clear_error():
    with pytest.raises(GemmaikuError, match="bad option temperature"):
        options_from({"temperature": -1})


def test_merged_keeps_defaults_and_applies_overrides():
    base = GenerationOptions(temperature=0.6, stop=["<end_of_turn>"])
    merged = base.merged({"seed": 7})
    assert merged.temperature == 0.6 and merged.seed == 7 and merged.stop == ["<end_of_turn>"]
