"""The direct-answer math protocol (math_direct, gsm8k_direct) and the report's by-level breakdown."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cola.cli import main
from cola.errors import DatasetError
from cola.evaluation.result import Evaluation
from cola.evaluation.scorer import ChainScorer, EvalConfig
from cola.report.data import build_report_data
from cola.report.levels import layer_level_table, level_sections, pattern_table
from cola.report.render import render_markdown
from cola.runs.records import SampleRecord
from cola.search import SearchConfig, SearchOutcome, get_strategy
from cola.tasks import Sample, get_task, list_tasks, truncate_at
from cola.tasks.base import STYLES
from cola.tasks.direct import INSTRUCTION, box_close

MATH_SAMPLE = Sample(id="m", question="What is $1/2$ as a fraction?", gold="\\frac{1}{2}")


# ------------------------------------------------------------------ the tasks
def test_direct_tasks_are_registered_beside_the_chain_of_thought_ones():
    names = list_tasks()
    assert {"math", "math_direct", "gsm8k", "gsm8k_direct"} <= set(names)
    assert get_task("math_direct").max_new_tokens == 50 and get_task("gsm8k_direct").max_new_tokens == 50
    # The chain-of-thought protocol is untouched.
    assert get_task("math").max_new_tokens == 512 and get_task("gsm8k").max_new_tokens == 256
    assert "ONLY" not in get_task("math").prompt(MATH_SAMPLE, None, "base")


def test_prompts_ask_for_a_boxed_answer_only(smollm):
    task = get_task("math_direct")
    base = task.prompt(MATH_SAMPLE, None, "base")
    assert base == (
        "Solve the following math problem and output ONLY the final answer directly, "
        "formatted strictly as \\boxed{ANSWER}.\n### Problem Start\n"
        "What is $1/2$ as a fraction?\n### Problem End\nAnswer: \\boxed{"
    )
    chat = task.prompt(MATH_SAMPLE, smollm.tokenizer, "chat")
    assert INSTRUCTION in chat and MATH_SAMPLE.question in chat
    assert chat.endswith("### Problem End<|im_end|>\n<|im_start|>assistant\nAnswer: \\boxed{")
    gsm = get_task("gsm8k_direct").prompt(Sample(id="g", question="Q?", gold="3"), None, "base")
    assert INSTRUCTION in gsm and "####" not in gsm and gsm.endswith("\\boxed{")


# Generations continue the box the prompt opened.
@pytest.mark.parametrize(
    ("generation", "answer", "correct"),
    [
        ("\\frac{1}{2}}", "\\frac{1}{2}", True),
        ("0.5}$.", "0.5", True),  # math-verify: equal values match
        (" \\dfrac12 }", "\\dfrac12", True),
        ("\\frac{1}{3}}", "\\frac{1}{3}", False),
        ("\\frac{1}{2}", None, False),  # never closed within the budget: no answer
        ("}", None, False),  # an empty box
        ("\\frac{1}{2}} or \\boxed{7}", "\\frac{1}{2}", True),  # the box ends the answer
        ("\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}", True),  # nested braces
        ("\\frac{1}{\\sqrt{2}}}", "\\frac{1}{\\sqrt{2}}", True),
        ("\\boxed{5}}", "\\boxed{5}", False),  # a box inside the box is the content, not the answer
    ],
)
def test_math_direct_grading(generation, answer, correct):
    task = get_task("math_direct")
    sample = (
        Sample(id="m", question="q", gold="\\frac{\\sqrt{2}}{2}") if "sqrt" in generation else MATH_SAMPLE
    )
    assert task.extract_answer(generation, sample) == answer
    assert task.is_correct(task.extract_answer(generation, sample), sample) is correct


def test_box_close_balances_braces():
    assert box_close("x^{2}} and more") == len("x^{2}")
    assert box_close("\\{1, 2\\}}") == len("\\{1, 2\\}")
    assert box_close("x^{2}") is None and box_close("") is None


def test_gsm8k_direct_grades_the_boxed_number_against_the_number_after_hashes(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps({"question": "How many?", "answer": "so 1000\n#### 1,000"}) + "\n")
    sample = get_task("gsm8k_direct").load(str(path))[0]
    assert sample.gold == "1000" and sample == get_task("gsm8k").load(str(path))[0]
    task = get_task("gsm8k_direct")
    assert task.is_correct(task.extract_answer("1,000}", sample), sample)
    assert task.is_correct(task.extract_answer("\\$1000}", sample), sample)
    assert not task.is_correct(task.extract_answer("100}", sample), sample)
    assert not task.is_correct(task.extract_answer("1000", sample), sample)  # box never closed


@pytest.mark.parametrize(
    ("generation", "complete"),
    [
        ("5", False),
        ("\\frac{1}{2}", False),
        ("\\frac{1}{2}}", True),
        ("The answer is 5", False),
        ("}", True),  # closed empty: no continuation changes that
        ("5}\ufffd", True),
        ("5\ufffd", False),
    ],
)
def test_stop_rule_ends_when_the_box_closes(generation, complete):
    assert get_task("math_direct").answer_complete(generation, MATH_SAMPLE) is complete
    assert get_task("gsm8k_direct").answer_complete(generation, MATH_SAMPLE) is complete


PIECES = ["\\boxed{", "{", "}", "1", "\\frac", "x", " ", "\n", "$", "\\{", "\\}", "\ufffd"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(PIECES), max_size=8).map("".join),
    st.lists(st.sampled_from(PIECES), max_size=6).map("".join),
)
@example("\\boxed{1}", "}")
@example("1}", " \\boxed{2}")
def test_stopping_early_never_changes_the_answer(generation, continuation):
    task = get_task("math_direct")
    for style in STYLES:
        stops = task.stop_strings(style)
        text = truncate_at(generation, stops)
        if task.answer_complete(text, MATH_SAMPLE):
            whole = truncate_at(text + continuation, stops)
            assert task.extract_answer(whole, MATH_SAMPLE) == task.extract_answer(text, MATH_SAMPLE)


def test_levels_filter_works_for_math_direct():
    direct = get_task("math_direct").load(levels=[1, 2])
    assert direct and {s.meta["level"] for s in direct} == {1, 2}
    assert [s.id for s in direct] == [s.id for s in get_task("math").load(levels=[1, 2])]
    assert [s.gold for s in direct] == [s.gold for s in get_task("math").load(levels=[1, 2])]
    with pytest.raises(DatasetError, match="no difficulty levels"):
        get_task("gsm8k_direct").load(levels=[1])


@pytest.mark.usefixtures("one_torch_thread")
def test_fast_engine_equals_naive_on_the_direct_protocol(smollm):
    """The early stop at a closed box is exact: the fast engine's answers equal full 50-token decoding's."""
    task = get_task("math_direct")
    sample = task.load(levels=[1], limit=1)[0]
    found = {}
    for mode in ("naive", "fast"):
        scorer = ChainScorer(smollm, task, EvalConfig(mode=mode))
        evaluator = scorer.for_sample(sample)
        config = SearchConfig(simulations=3, batch_size=3, seed=0)
        outcome = get_strategy("mcts")(evaluator, smollm.num_layers, config, evaluator.original())
        found[mode] = [(e.chain, e.answer, e.reward) for e in outcome.evaluations]
    assert found["fast"] == found["naive"] and len(found["fast"]) >= 2


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize(
    ("task", "levels"), [("math_direct", ["--levels", "1"]), ("gsm8k_direct", [])], ids=["math", "gsm8k"]
)
@pytest.mark.usefixtures("one_torch_thread")
def test_search_end_to_end_on_smollm(task, levels, tmp_path, capsys):
    out = tmp_path / task
    args = ["search", "--task", task, *levels, "--samples", "1", "--simulations", "2", "--no-decoy"]
    assert main([*args, "--model", "smollm2-135m", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    records = [
        SampleRecord.from_json(json.loads(line)) for line in (out / "records.jsonl").read_text().splitlines()
    ]
    assert len(records) == 1 and records[0].task == task
    record = records[0]
    assert record.search.evaluations and record.original.chain == tuple(range(record.num_layers))
    assert all(len(e.text) <= 400 for e in [record.original, *record.search.evaluations])  # 50 tokens at most
    if task == "math_direct":
        assert record.meta["level"] == 1
        assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
        report = (tmp_path / "report" / "report.md").read_text()
        assert "## Skip and repeat patterns by difficulty level" in report
        assert "## Per-layer usage by difficulty level" in report
    else:
        assert "level" not in record.meta


# ------------------------------------------------------------------ the by-level report
def _record(
    sample_id: str, level: int | None, original_correct: bool, found: list[tuple[tuple[int, ...], float]]
):
    full = tuple(range(6))
    original = Evaluation(chain=full, answer="a", reward=1.0 if original_correct else 0.0)
    evaluations = [Evaluation(chain=c, answer="b", reward=r) for c, r in found]
    search = SearchOutcome("mcts", evaluations, len(evaluations), None)
    baseline = SearchOutcome(
        "random_matched", [Evaluation(chain=(0, 1, 2, 3, 4), answer="c", reward=0.0)], 1, None
    )
    return SampleRecord(
        sample_id=sample_id,
        task="math_direct",
        gold="1",
        num_layers=6,
        original=original,
        search=search,
        baseline=baseline,
        meta={"level": level},
    )


def test_report_breaks_patterns_down_by_level():
    records = [
        # Level 1: both originally correct; one shortened by skipping layer 0, one kept whole.
        _record("a", 1, True, [((1, 2, 3, 4, 5), 1.0)]),
        _record("b", 1, True, [((0, 1, 2, 3, 4), 0.0)]),
        # Level 2: one wrong fixed by repeating layer 5 (and skipping 1), one wrong and unfixed.
        _record("c", 2, False, [((0, 2, 3, 4, 5, 5), 1.0)]),
        _record("d", 2, False, [((0, 1, 2), 0.0)]),
        _record("e", None, True, []),  # no level: left out of the breakdown
    ]
    records[-1].meta = {}
    data = build_report_data([("run", records)])
    search = {p.level: p for p in data.runs[0].by_level["search"]}
    assert sorted(search) == [1, 2] and search[1].n == 2 and search[2].n == 2
    one, two = search[1], search[2]
    assert (one.summary.oracle_shorter.successes, one.summary.oracle_shorter.n) == (1, 2)
    assert (two.summary.oracle_fixed.successes, two.summary.oracle_fixed.n) == (1, 2)
    assert one.best_chains == 2 and one.mean_best_length == 5.5
    assert one.skipped == [0.5, 0, 0, 0, 0, 0] and one.repeated == [0.0] * 6
    assert (one.with_skip.successes, one.with_repeat.successes) == (1, 0)
    assert two.best_chains == 1 and two.skipped[1] == 1.0 and two.repeated[5] == 1.0
    assert two.mean_skipped == 1.0 and two.mean_repeated == 1.0
    assert two.thirds_skipped == {"early": 0.5, "middle": 0.0, "late": 0.0}
    assert two.thirds_repeated == {"early": 0.0, "middle": 0.0, "late": 0.5}
    baseline = {p.level: p for p in data.runs[0].by_level["baseline"]}
    assert baseline[2].summary.oracle_fixed.successes == 0  # the null found nothing
    header, body = pattern_table(data.runs)
    assert len(body) == 4 and body[0][:3] == ["run: mcts", "1", "2"]
    assert body[0][header.index("shorter, of originally correct (oracle)")].startswith("50.0%")
    header, body = layer_level_table(data.runs)
    assert header[2:] == ["level 1: skipped / repeated", "level 2: skipped / repeated"]
    assert body[0][2:] == ["50% / 0%", "0% / 0%"] and body[5][3] == "0% / 100%"
    assert "## Skip and repeat patterns by difficulty level" in render_markdown(data)


def test_report_without_levels_has_no_level_sections():
    record = _record("a", 1, True, [])
    record.meta = {}
    data = build_report_data([("run", [record])])
    assert data.runs[0].by_level == {} and level_sections(data.runs) == []
    assert "difficulty level" not in render_markdown(data)
