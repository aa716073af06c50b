"""The eval verbs end to end on a scripted target: known rates land in JSON, Markdown and PNG."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from gemmaiku.chat import DEFAULT_SYSTEM_PROMPT
from gemmaiku.cli import cli
from gemmaiku.evaluate.suite import SUITE_CATEGORIES, builtin_suite


def run(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def read(out):
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def test_adversarial_report_has_the_known_rates(scripted, prompts_file, tmp_path):
    out = tmp_path / "adv"
    result = run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file), "-n", "2", "--seed", "7",
                 "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert "strict 5-7-5: 6/24 = 25.0%" in result.output
    payload, md = read(out)
    summary = payload["summary"]
    assert summary["overall"]["passed"] == 6 and summary["overall"]["n"] == 24
    assert summary["categories"]["haiku_request"] == {"passed": 6, "n": 6, "rate": 1.0, "ci95": [0.6097, 1.0]}
    assert summary["categories"]["essay"]["rate"] == 0.0
    assert summary["failures"]["prose"] == 6 and summary["failures"]["chatter"] == 6
    assert {w["category"] for w in summary["worst"]} == {"essay", "code", "yes_no"}
    # lenient: the preamble + haiku replies (code) count once the chatter is stripped; prose never
    assert summary["lenient"]["overall"]["passed"] == 12
    assert summary["lenient"]["categories"]["code"]["rate"] == 1.0
    assert summary["lenient"]["categories"]["essay"]["rate"] == 0.0
    # form held: only the haiku replies (the two-line yes_no and the chatter/prose ones break the form)
    assert summary["form"]["overall"]["passed"] == 6
    # the markdown shows the same numbers, the command and the failures
    assert "25.0% [12.0, 44.9] (6/24)" in md and "100.0% [61.0, 100.0] (6/6)" in md
    assert f"Command: `{payload['provenance']['command']}`" in md
    assert "| prose | 6 | 25.0% |" in md and "## Worst replies" in md
    assert (out / "categories.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 24 and json.loads(lines[0])["seed"] == 7 and json.loads(lines[1])["seed"] == 8
    # fixed seeds and the default system prompt went to the target
    sent = scripted.seen
    assert [s["options"]["seed"] for s in sent[:2]] == [7, 8]
    assert sent[0]["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
    assert sent[0]["options"]["temperature"] == 0.6 and sent[0]["options"]["num_predict"] == 96
    assert scripted.closed


def test_system_none_and_custom(scripted, prompts_file, tmp_path):
    run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file), "-n", "1", "--system", "none",
        "--per-category", "1", "--out", str(tmp_path / "a"), "--quiet")
    assert [m["role"] for m in scripted.seen[0]["messages"]] == ["user"]
    assert len(scripted.seen) == 4  # one prompt per category
    run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file), "-n", "1", "--system", "Be brief.",
        "--category", "essay", "--out", str(tmp_path / "b"), "--quiet")
    assert scripted.seen[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_guard_retries_until_valid(scripted, prompts_file, tmp_path):
    calls = iter([PROSE_REPLY, HAIKU_REPLY])
    scripted.script = {}
    original = scripted.generate

    def flaky(messages, options):
        reply = original(messages, options)
        return dataclasses.replace(reply, text=next(calls, HAIKU_REPLY))

    scripted.generate = flaky
    out = tmp_path / "g"
    run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file), "--category", "essay",
        "--per-category", "1", "-n", "1", "--guard", "3", "--seed", "5", "--out", str(out), "--quiet")
    payload, _ = read(out)
    assert payload["summary"]["overall"]["passed"] == 1
    sample = json.loads((out / "samples.jsonl").read_text())
    assert sample["extra"]["guard"] == {"attempts": 2, "valid": True, "distance": 0}
    assert [s["options"]["seed"] for s in scripted.seen] == [5, 6]
    assert scripted.seen[1]["options"]["temperature"] >= 0.7
    assert payload["targets"][0]["guard"] == 3


def test_ctrl_c_keeps_partial_results(scripted, prompts_file, tmp_path):
    original = scripted.generate

    def interrupting(messages, options):
        if len(scripted.seen) == 5:
            raise KeyboardInterrupt
        return original(messages, options)

    scripted.generate = interrupting
    out = tmp_path / "p"
    result = CliRunner().invoke(cli, ["eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file),
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 130
    payload, md = read(out)
    assert payload["partial"] is True and payload["summary"]["overall"]["n"] == 5
    assert "Partial run" in md


def test_sweep_report_per_temperature_and_turn(scripted, prompts_file, tmp_path):
    out = tmp_path / "sweep"
    result = run("eval", "sweep", "-t", "fake:x", "--prompts", str(prompts_file), "--temperatures", "0:0.4:0.2",
                 "--per-category", "1", "--turns", "3", "--conversations", "2", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    payload, md = read(out)
    s = payload["summary"]
    assert list(s["single"]["by_temperature"]) == ["0.0", "0.2", "0.4"]
    assert s["single"]["by_temperature"]["0.2"] == {"passed": 1, "n": 4, "rate": 0.25, "ci95": [0.0456, 0.6994]}
    cont = s["continuous"]
    assert list(cont["by_turn"]) == ["1", "2", "3"] and cont["by_turn"]["1"]["n"] == 6  # 2 conversations x 3 T
    assert cont["form_by_turn"]["1"]["n"] == 6 and "| all, form held |" in md
    temps = [x["options"]["temperature"] for x in scripted.seen]
    assert sorted(set(temps)) == [0.0, 0.2, 0.4]
    # continuous mode: the conversation grows, the model's replies stay in context
    longest = max(scripted.seen, key=lambda x: len(x["messages"]))
    assert [m["role"] for m in longest["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "## Continuous generation: adherence per turn" in md and "| 0.2 |" in md
    # no 0.8 in this sweep: the first temperature is the reference; the scripted target never changes
    assert s["single"]["reference_temperature"] == 0.0
    assert s["single"]["versus_reference"]["0.4"] == {"pairs": 4, "only_reference": 0, "only_this": 0,
                                                      "difference": 0.0, "mcnemar_p": 1.0}
    assert "+0.0 pts (0/0, p=1)" in md and "vs T=0.0" in md
    assert s["single"]["clean_by_temperature"]["0.2"] == s["single"]["by_temperature"]["0.2"]
    assert s["single"]["clean_versus_reference"]["0.4"]["pairs"] == 4
    assert s["single"]["clean_overall"]["n"] == 12 and cont["clean_by_turn"]["1"]["n"] == 6
    assert "single: clean [95% CI]" in md and "| all, clean |" in md
    for name in ("temperature.png", "turns.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_ablate_runs_each_distinct_arm_once(scripted, prompts_file, tmp_path, monkeypatch):
    from gemmaiku.evaluate import targets

    # the "q8" model also writes haiku for essays: better than the first arm of its group (q8 comes first)
    def make(spec, rest, **kw):
        if rest == "q8":
            scripted.script = {"code": PREAMBLE_REPLY, "yes_no": SHORT_REPLY}
        else:
            scripted.script = {"essay": PROSE_REPLY, "code": PREAMBLE_REPLY, "yes_no": SHORT_REPLY}
        return scripted

    monkeypatch.setitem(targets.KINDS, "fake", make)
    out = tmp_path / "abl"
    result = run("eval", "ablate", "--base", "fake:base", "--q4", "fake:q4", "--q8", "fake:q8",
                 "--prompts", str(prompts_file), "--per-category", "1", "-n", "1", "--guard", "2",
                 "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    payload, md = read(out)
    labels = [a["label"] for a in payload["arms"]]
    assert labels == ["base + system prompt", "fine-tuned + system prompt", "fine-tuned, no system prompt",
                      "Q8_0", "Q4_K_M", "unguarded", "guarded"]
    assert any("F16" in s for s in payload["skipped"]) and any("Q5_K_M (no --q5)" in s for s in payload["skipped"])
    # distinct runs: base+sys, q4+sys, q4 none, q8+sys, q4 guarded (q4+sys reused three times)
    assert 5 * 4 <= len(scripted.seen) <= 5 * 4 + 4 * 2
    assert payload["arms"][0]["overall"]["n"] == 4
    assert "## quantization" in md and "## Skipped" in md
    arms = {a["label"]: a for a in payload["arms"]}
    assert arms["base + system prompt"]["versus"] is None
    versus = dict(arms["Q4_K_M"]["versus"])
    assert versus.pop("form") == {"pairs": 4, "only_reference": 1, "only_this": 0, "difference": -0.25,
                                  "mcnemar_p": 1.0}
    # every strict scripted reply is also clean: the clean comparison matches the strict one
    assert versus.pop("clean") == {"pairs": 4, "only_reference": 1, "only_this": 0, "difference": -0.25,
                                   "mcnemar_p": 1.0}
    assert arms["Q4_K_M"]["clean"] == arms["Q4_K_M"]["overall"]
    assert "clean vs first arm" in md
    assert versus == {"arm": "Q8_0", "pairs": 4, "only_reference": 1, "only_this": 0,
                      "difference": -0.25, "mcnemar_p": 1.0}
    assert "-25.0 pts (0 better / 1 worse of 4, McNemar p=1)" in md
    assert (out / "ablations.png").exists()


def test_builtin_suite_shape():
    prompts = builtin_suite()
    by_cat = {}
    for p in prompts:
        by_cat.setdefault(p.category, []).append(p)
    assert set(by_cat) == set(SUITE_CATEGORIES)
    assert all(10 <= len(v) <= 15 for v in by_cat.values())
    assert len({p.id for p in prompts}) == len(prompts)
    assert min(len(p.text) for p in by_cat["long_input"]) > 600


def test_builtin_suite_is_held_out_from_the_corpus():
    """No suite prompt appears (normalized) among the corpus' user turns: the suite stays a test."""
    from pathlib import Path

    from gemmaiku.data.corpus import normalize_text, read_jsonl
    from tests import REPO_ROOT

    sources = sorted(Path(REPO_ROOT / "data" / "sources").glob("*.jsonl"))
    if not sources:
        pytest.skip("no corpus sources in this checkout")
    seen = {normalize_text(m["content"]) for f in sources for c in read_jsonl(f).conversations
            for m in c.messages if m["role"] == "user"}
    leaked = [p.id for p in builtin_suite() if normalize_text(p.text) in seen]
    assert leaked == []


def test_test_split_prompts_end_with_a_user_turn(tmp_path):
    from gemmaiku.evaluate.suite import test_split

    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps({"category": "essay", "messages": [
        {"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"}, {"role": "assistant", "content": "a2"}]}) + "\n")
    [prompt] = test_split(path)
    assert prompt.category == "test:essay" and prompt.text == "u2"
    assert [m["role"] for m in prompt.with_system("X")] == ["system", "user", "assistant", "user"]
    assert prompt.with_system("X")[0]["content"] == "S"  # the conversation's own system prompt wins


PREAMBLE_REPLY = "Sure! Here is a haiku:\nSnow on the cedar\nthe kettle starts its low song\nsteam writes on the pane"
SHORT_REPLY = "Snow on the cedar\nsteam writes on the pane"
HAIKU_REPLY = "Snow on the cedar\nthe kettle starts its low song\nsteam writes on the pane"
PROSE_REPLY = "Here is a long answer in prose, which goes on for far too many words to be a haiku at all."


def test_continuous_conversation_cut_short_by_the_context(scripted, prompts_file, tmp_path):
    """A conversation that outgrows the context stops there; the others go on; the report says so."""
    from gemmaiku.errors import GemmaikuError

    original = scripted.generate

    def limited(messages, options):
        if len(messages) > 4:  # system + 2 exchanges: the third user turn does not fit
            raise GemmaikuError("the prompt is 2100 tokens, more than the context of 2048")
        return original(messages, options)

    scripted.generate = limited
    out = tmp_path / "cut"
    result = run("eval", "sweep", "-t", "fake:x", "--prompts", str(prompts_file), "--temperatures", "0.5",
                 "--mode", "continuous", "--turns", "4", "--conversations", "2", "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    payload, md = read(out)
    assert payload["summary"]["continuous"]["by_turn"].keys() == {"1", "2"}
    assert len(payload["errors"]) == 2 and "stopped at turn 3" in payload["errors"][0]
    assert "## Notes" in md and "context of 2048" in md


def test_conversation_chains_wrap_and_differ():
    from gemmaiku.evaluate.run import conversation_chains

    prompts = builtin_suite(["haiku_request"])[:5]
    chains = conversation_chains(prompts, conversations=3, turns=2)
    assert [[p.id for p in c] for c in chains] == [
        [prompts[0].id, prompts[1].id], [prompts[2].id, prompts[3].id], [prompts[4].id, prompts[0].id]]


def test_the_shipped_test_split_loads():
    from gemmaiku.evaluate.suite import TEST_SPLIT, test_split

    if not TEST_SPLIT.is_file():
        pytest.skip("no data/test.jsonl in this checkout")
    prompts = test_split()
    assert prompts and all(p.category.startswith("test:") and p.messages[-1]["role"] == "user" for p in prompts)


def test_refused_requests_are_left_out_and_listed(scripted, prompts_file, tmp_path):
    from gemmaiku.errors import GemmaikuError

    original = scripted.generate

    def refusing(messages, options):
        if messages[-1]["content"].startswith("[essay]") and options["seed"] == 0:
            raise GemmaikuError("the prompt is 3000 tokens, more than the context of 2048")
        return original(messages, options)

    scripted.generate = refusing
    out = tmp_path / "left"
    result = run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file), "-n", "2",
                 "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    payload, md = read(out)
    assert payload["summary"]["overall"]["n"] == 21 and len(payload["errors"]) == 3
    assert "## Requests left out" in md and "essay-0 (seed 0) left out" in md


def test_a_run_that_mostly_fails_stops_with_one_error(scripted, prompts_file, tmp_path):
    from gemmaiku.errors import GemmaikuError

    def down(messages, options):
        raise GemmaikuError("cannot reach http://127.0.0.1:9/api/chat")

    scripted.generate = down
    result = CliRunner().invoke(cli, ["eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file),
                                      "--out", str(tmp_path / "down"), "--quiet"])
    assert isinstance(result.exception, GemmaikuError)
    assert "5 of 5 requests failed; the first: haiku_request-0 (seed 0) left out: cannot reach" in str(result.exception)


def test_progress_bar_and_json_output(scripted, prompts_file, tmp_path):
    out = tmp_path / "prog"
    result = CliRunner().invoke(cli, ["eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file),
                                      "--per-category", "1", "-n", "1", "--out", str(out), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    start = result.stdout.index("{")
    payload = json.loads(result.stdout[start:result.stdout.rindex("}") + 1])
    assert payload["summary"]["overall"]["n"] == 4 and payload["kind"] == "adversarial"


DANGLING_REPLY = "Twenty-three, then: the\ntwenty-eight in each row; the\ndozen on each side"  # strict, not clean


def test_adversarial_reports_clean_beside_strict(scripted, prompts_file, tmp_path):
    """Strict replies that dangle on "the" count as strict but not clean, in JSON, Markdown and the CLI line."""
    scripted.script = {**scripted.script, "yes_no": DANGLING_REPLY}
    out = tmp_path / "clean"
    result = run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts_file), "-n", "2",
                 "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert "strict 5-7-5: 12/24 = 50.0%" in result.output and "clean: 6/24 = 25.0% (95% CI 12.0-44.9)" in result.output
    payload, md = read(out)
    summary = payload["summary"]
    assert summary["overall"]["passed"] == 12
    assert summary["clean"]["overall"] == {"passed": 6, "n": 24, "rate": 0.25, "ci95": [0.12, 0.449]}
    assert summary["clean"]["categories"]["yes_no"]["passed"] == 0
    assert summary["categories"]["yes_no"]["passed"] == 6
    assert summary["clean"]["flags_on_strict"] == {"dangling_end": 6}
    assert summary["clean"]["flags"] == {"dangling_end": 6, "meta_talk": 6}  # "Here is a haiku:" in code replies
    assert [u["prompt_id"] for u in summary["unclean"]][:3] == ["yes_no-0", "yes_no-1", "yes_no-2"]
    assert "**Clean overall: 25.0% [12.0, 44.9] (6/24)**" in md
    assert "## Strict but not clean" in md and 'line 1 dangling_end "the"' in md
    assert "| dangling_end | 6 | 25.0% | 6 | 50.0% |" in md and "| meta_talk | 6 | 25.0% | 0 | 0.0% |" in md
    sample = next(json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()
                  if json.loads(line)["category"] == "yes_no")
    assert sample["ok"] is True and sample["clean"] is False
    assert [(f["kind"], f["line"], f["text"]) for f in sample["flags"]] == [("dangling_end", 0, "the"),
                                                                            ("dangling_end", 1, "the")]


def test_echo_of_the_prompt_is_judged_against_what_was_sent(scripted, tmp_path):
    """The prompt and the system text reach the judge: a reply copying the prompt is strict, not clean."""
    prompts = tmp_path / "echo.jsonl"
    prompts.write_text(json.dumps({"id": "e", "category": "echo",
                                   "prompt": "the library closes at eight on sundays, tell me why"}) + "\n")
    scripted.script = {}
    original = scripted.generate

    def echoing(messages, options):
        reply = original(messages, options)
        return dataclasses.replace(reply, text="The library shuts\nat eight on sundays, tell me\nsteam writes on the pane")

    scripted.generate = echoing
    out = tmp_path / "e"
    run("eval", "adversarial", "-t", "fake:x", "--prompts", str(prompts), "-n", "1", "--out", str(out), "--quiet")
    sample = json.loads((out / "samples.jsonl").read_text())
    assert sample["ok"] is True and sample["clean"] is False
    assert {f["kind"] for f in sample["flags"]} == {"echo"}
