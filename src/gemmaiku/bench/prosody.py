"""Benchmark of the haiku metric: held-out accuracy of the unknown-word estimator, and speed.

    python -m gemmaiku.bench.prosody [--limit N] [--errors K]

CMUdict's alphabetic words are split by a stable hash (:func:`is_held_out`, 20 %) into a tuning
split, the only words the estimator's tables were tuned on and the only words its morphology
and compound splitter may use, and a held-out split, each word estimated as if unknown.
Agreement is counted three ways: the primary guess is one of the word's CMUdict counts; the
primary guess equals the count of CMUdict's first pronunciation; and any count the estimator
offers is one of CMUdict's (lenient; sets bigger than one are reported too).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable, Iterable

HELD_OUT_PERCENT = 20


def is_held_out(word: str) -> bool:
    """Stable split: the same word is always on the same side, on every machine and run."""
    digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < HELD_OUT_PERCENT


def splits() -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """(tuning, held_out): CMUdict's alphabetic ASCII words and their counts."""
    from gemmaiku.prosody.lexicon import cmu_table

    tuning, held = {}, {}
    for word, counts in cmu_table().items():
        if word.isascii() and word.isalpha():
            (held if is_held_out(word) else tuning)[word] = counts
    return tuning, held


def primary_of(words: dict[str, tuple[int, ...]]) -> dict[str, int]:
    from gemmaiku.prosody.lexicon import cmu_primary

    return {w: cmu_primary(w) for w in words}


def score(
    guess: Callable[[str], tuple[int, tuple[int, ...]]], words: dict[str, tuple[int, ...]]
) -> dict[str, float]:
    """Agreement of ``guess(word) -> (primary, counts)`` with CMUdict over ``words``."""
    from gemmaiku.prosody.lexicon import cmu_primary

    primary_in = exact = any_in = multi = 0
    for word, truth in words.items():
        primary, counts = guess(word)
        primary_in += primary in truth
        exact += primary == cmu_primary(word)
        any_in += bool(set(counts) & set(truth))
        multi += len(counts) > 1
    n = len(words) or 1
    return {
        "words": len(words),
        "primary_in_cmu": primary_in / n,
        "primary_equals_first": exact / n,
        "any_in_cmu": any_in / n,
        "sets_larger_than_one": multi / n,
    }


def held_out_report(limit: int | None = None) -> dict[str, dict[str, float]]:
    """Scores of the estimator (tuning lexicon), of spelling rules alone, and of ``syllables``."""
    from gemmaiku.prosody.estimate import Estimator
    from gemmaiku.prosody.rules import estimate_rules

    tuning, held = splits()
    if limit:
        held = dict(list(held.items())[:limit])
    report = {
        "estimator": score(Estimator(tuning, primary_of(tuning)).guess, held),
        "rules_only": score(estimate_rules, held),
        "rules_only_on_tuning": score(estimate_rules, tuning),
    }
    try:
        import syllables  # comparison only; not a dependency of gemmaiku
    except ImportError:
        pass
    else:

        def package(word: str) -> tuple[int, tuple[int, ...]]:
            n = syllables.estimate(word)
            return n, (n,)

        report["syllables_package"] = score(package, held)
    return report


def errors(limit: int = 40) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """Held-out words the estimator gets wrong (for reading, never for tuning)."""
    from gemmaiku.prosody.estimate import Estimator

    tuning, held = splits()
    est = Estimator(tuning, primary_of(tuning))
    wrong = []
    for word, truth in held.items():
        primary, counts = est.guess(word)
        if primary not in truth:
            wrong.append((word, counts, truth))
            if len(wrong) >= limit:
                break
    return wrong


SAMPLE_HAIKU = (
    "An old silent pond\nA frog jumps into the pond\nSplash! Silence again",
    "Sure! Here is a haiku:\nThe blockchain hums on\nNASA's GPUs burn in 1999\nI hope you enjoy it!",
    "Doomscrolling at dawn\nthe café's naïve résumé\n$5 for 3rd place",
    "Autumn moonlight—\na worm digs silently\ninto the chestnut.",
)


def throughput(texts: Iterable[str], fn: Callable[[str], object], seconds: float = 2.0) -> float:
    """Calls per CPU second of ``fn`` over ``texts``, repeated for about ``seconds`` of CPU time.

    CPU time (``time.process_time``), not wall time, so other jobs on a shared machine do not
    make the figure drift; it is what one core sustains."""
    texts = list(texts)
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for t in texts:
            fn(t)
        done += len(texts)
    return done / (time.process_time() - start)


def speed() -> dict[str, float]:
    from gemmaiku.prosody import check_haiku, word_syllables
    from gemmaiku.prosody import syllables as syl
    from gemmaiku.prosody.estimate import _default
    from gemmaiku.prosody.lexicon import cmu_table

    words = sorted(w for w in cmu_table() if w.isalpha())[::50]  # 2,350 dictionary words
    word_syllables("warm")  # load the dictionary outside the timing

    def cold(w: str) -> object:
        syl.clear_caches()
        return word_syllables(w)

    def unknown(w: str) -> object:
        est.guess.cache_clear()
        return est.guess(w)

    est = _default()
    return {
        "words_per_s_cached": throughput(words, word_syllables),
        "words_per_s_uncached": throughput(words[:500], cold),
        "estimates_per_s_uncached": throughput(words[:500], unknown),
        "haiku_per_s": throughput(SAMPLE_HAIKU, check_haiku),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gemmaiku.bench.prosody", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="score only the first N held-out words"
    )
    parser.add_argument("--errors", type=int, default=0, help="also print K held-out mistakes")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurements")
    args = parser.parse_args(argv)
    tuning, held = splits()
    print(
        f"CMUdict alphabetic words: {len(tuning)} tuning, {len(held)} held out ({HELD_OUT_PERCENT}%)"
    )
    for name, row in held_out_report(args.limit).items():
        print(
            f"{name:22s} n={row['words']:6d}  primary in CMU {row['primary_in_cmu']:.1%}  "
            f"primary = first pron. {row['primary_equals_first']:.1%}  "
            f"any in CMU {row['any_in_cmu']:.1%}  sets >1 {row['sets_larger_than_one']:.1%}"
        )
    if not args.no_speed:
        for name, value in speed().items():
            print(f"{name:26s} {value:,.0f}")
    for word, counts, truth in errors(args.errors) if args.errors else []:
        print(f"  {word:20s} guess {counts} cmu {truth}")


if __name__ == "__main__":
    main()
