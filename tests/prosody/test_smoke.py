from gemmaiku.prosody import check_haiku, word_syllables


def test_fire_is_one_or_two():
    assert word_syllables("fire") == (1, 2)


def test_basho_passes():
    v = check_haiku("An old silent pond\nA frog jumps into the pond\nSplash! Silence again")
    assert v.ok and v.distance == 0 and v.reasons == []


def test_four_lines_fail():
    v = check_haiku("a\nb\nc\nd")
    assert not v.ok and "expected 3 lines, got 4" in v.reasons
