"""Tests of the exercise checker (tlbook.exercises), using the demo exercises 0.x."""

import re

import numpy as np
import pytest

from tlbook import exercises
from tlbook.exercises import NotYet, check, close_to, one_of, register, same_as


def test_correct_answer_prints_one_line_and_returns_true(capsys):
    assert check("0.1", 0.5) is True
    assert capsys.readouterr().out == "Exercise 0.1: correct.\n"


def test_wrong_answer_prints_hint_and_returns_false(capsys):
    assert check("0.1", 0.7) is False
    out = capsys.readouterr().out
    assert out == "Exercise 0.1: not yet. Hint: A fair coin has two equally likely sides.\n"


def test_unknown_id_raises_value_error_listing_known_ids():
    with pytest.raises(ValueError, match=r"unknown exercise id '9\.9'.*1\.1, 1\.2") as info:
        check("9.9", 1)
    # the demo ids are not the book's exercises (10.1 is)
    assert "0.1" not in str(info.value).replace("10.1", "")


def test_open_ended_exercise_says_it_has_no_check():
    with pytest.raises(ValueError, match=r"exercise 9\.5 is open-ended.*no automatic check"):
        check("9.5", lambda x: x)


def test_exercise_id_must_be_a_string():
    with pytest.raises(TypeError, match="exercise_id must be a string"):
        check(0.1, 0.5)


@pytest.mark.parametrize(
    "answer, type_name",
    [("0.5", "str"), ([0.5], "list"), (True, "bool"), ({"p": 0.5}, "dict")],
)
def test_wrong_type_is_not_yet_with_expected_type(capsys, answer, type_name):
    assert check("0.1", answer) is False
    out = capsys.readouterr().out
    assert out.startswith(f"Exercise 0.1: not yet. Expected a number (int or float), got {type_name}")
    assert "Hint: A fair coin" in out
    assert out.count("\n") == 1


def test_string_exercise_rejects_a_number_with_type_message(capsys):
    assert check("0.2", 3) is False
    assert "not yet. Expected a string, got int." in capsys.readouterr().out


def test_placeholder_answer_asks_for_an_answer(capsys):
    assert check("0.1", ...) is False
    assert "No answer yet: the answer is still ...; replace the ..." in capsys.readouterr().out
    assert check("0.1", None) is False  # the stubs in the chapters say `answer = None`
    assert "No answer yet: the answer is still None; replace the None" in capsys.readouterr().out


def test_numpy_and_torch_scalars_are_numbers(capsys):
    torch = pytest.importorskip("torch")
    assert check("0.1", np.float32(0.5)) is True
    assert check("0.1", torch.tensor(0.505)) is True
    capsys.readouterr()


def test_close_to_tolerance_is_absolute_and_inclusive():
    checker = close_to(2.0, tol=0.25)
    assert checker(2.25) and checker(1.75) and checker(2)
    assert not checker(2.2501)
    assert not checker(float("nan"))
    assert close_to(3, tol=0)(3) and not close_to(3, tol=0)(3.0001)
    with pytest.raises(ValueError, match="tol"):
        close_to(1.0, tol=-1)


def test_close_to_computes_expected_lazily():
    calls = []

    def expected():
        calls.append(1)
        return 10.0

    checker = close_to(expected, tol=0.5)
    assert calls == []
    assert checker(10.4)
    assert calls == [1]


def test_one_of_ignores_case_and_whitespace(capsys):
    assert check("0.2", "  noun ") is True
    assert check("0.2", "Verb") is True
    assert check("0.2", "ADJ") is False
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("Exercise 0.2: not yet. Hint:")
    assert one_of([1, 2])(2) and not one_of([1, 2])(3)


def _stable_softmax(x):
    z = np.exp(x - np.max(x))
    return z / z.sum()


def _naive_softmax(x):
    return np.exp(x) / np.exp(x).sum()


def test_function_answer_compared_with_reference(capsys):
    assert check("0.3", _stable_softmax) is True
    assert check("0.3", _naive_softmax) is False
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Exercise 0.3: correct."
    assert out[1].startswith("Exercise 0.3: not yet. On input [1000.0, 1000.0] your function returned [nan nan].")
    assert out[1].endswith("Hint: Subtract the largest score before exponentiating.")


def test_function_answer_that_raises_or_has_wrong_shape_is_not_yet(capsys):
    def broken(x):
        raise IndexError("list index out of range")

    assert check("0.3", broken) is False
    assert "your function raised IndexError: list index out of range." in capsys.readouterr().out
    assert check("0.3", lambda x: _stable_softmax(x)[:1]) is False
    assert "returned shape (1,), expected shape (2,)" in capsys.readouterr().out
    assert check("0.3", 0.5) is False
    assert "Expected a function, got float." in capsys.readouterr().out


def test_same_as_accepts_torch_tensors_and_tuple_arguments():
    torch = pytest.importorskip("torch")
    checker = same_as(lambda a, b: np.asarray(a) + b, [(np.ones(2), 1.0)], tol=1e-6)
    assert checker(lambda a, b: torch.as_tensor(a) + b)
    with pytest.raises(NotYet, match="returned"):
        checker(lambda a, b: torch.as_tensor(a) - b)


def test_register_validates_and_guards_duplicates():
    with pytest.raises(ValueError, match="exercise_id"):
        register("1", hint="h")
    with pytest.raises(ValueError, match="hint"):
        register("0.98", hint=" ")

    @register("0.99", hint="Any even number.")
    def _even(answer):
        return answer % 2 == 0

    try:
        assert "0.99" in exercises.known_exercises()

        def other(answer):
            return True

        with pytest.raises(ValueError, match="already has a checker"):
            register("0.99", hint="x")(other)
        register("0.99", hint="Any even number.")(_even)  # same definition again: fine
    finally:
        exercises._REGISTRY.pop("0.99", None)


def test_checker_errors_on_odd_answers_become_not_yet(capsys):
    @register("0.97", hint="Any even number.")
    def _even(answer):
        return answer % 2 == 0

    try:
        assert check("0.97", "four") is False
        out = capsys.readouterr().out
        assert out.startswith("Exercise 0.97: not yet. Your answer could not be checked (TypeError:")
    finally:
        exercises._REGISTRY.pop("0.97", None)


def test_known_exercises_sorted_numerically():
    @register("0.10", hint="h")
    def _ten(answer):
        return True

    try:
        ids = exercises.known_exercises()
        assert ids.index("0.3") < ids.index("0.10")
    finally:
        exercises._REGISTRY.pop("0.10", None)


# ----------------------------------------------------- chapter 1 checkers
# Each correct answer is computed here independently of the checker's own code.


def _ch1_pool_and_test():
    from tlbook.data import load_movie_sentiment
    from tlbook.profiles import get_profile

    ds = load_movie_sentiment("lite")
    return ds["train"].select(range(get_profile("lite").sizes["pool_size"])), ds["test"]


def test_check_1_1_majority_baseline(monkeypatch):
    from collections import Counter

    monkeypatch.delenv("TLBOOK_PROFILE", raising=False)
    pool, test = _ch1_pool_and_test()
    majority = Counter(pool["label"]).most_common(1)[0][0]
    right = sum(label == majority for label in test["label"]) / len(test)
    assert check("1.1", right) is True
    assert check("1.1", 1 - right) is False
    assert check("1.1", "half") is False


def test_check_1_2_mean_pool():
    def right(hidden, mask):
        m = mask.unsqueeze(-1).float()
        return (hidden * m).sum(1) / m.sum(1)

    def over_all_positions(hidden, mask):  # the classic mistake: padding counted
        return hidden.mean(1)

    assert check("1.2", right) is True
    assert check("1.2", over_all_positions) is False


def test_check_1_3_nearest_neighbour(monkeypatch):
    from sklearn.neighbors import KNeighborsClassifier

    from tlbook.embeddings import sentence_embeddings
    from tlbook.models import load_encoder
    from tlbook.sample_efficiency import balanced_subsample

    monkeypatch.delenv("TLBOOK_PROFILE", raising=False)
    pool, test = _ch1_pool_and_test()
    idx = balanced_subsample(pool["label"], 64, seed=0)
    model, tok = load_encoder("lite")
    train_x = sentence_embeddings(model, tok, [pool["text"][i] for i in idx])
    test_x = sentence_embeddings(model, tok, test["text"])
    knn = KNeighborsClassifier(n_neighbors=1, metric="cosine")
    knn.fit(train_x, [pool["label"][i] for i in idx])
    right = float((knn.predict(test_x) == test["label"]).mean())
    assert check("1.3", right) is True
    assert check("1.3", right + 0.05) is False


def test_chapter_checker_modules_are_loaded_on_demand():
    import re
    from pathlib import Path

    import tlbook
    from tlbook.exercises import known_exercises

    package = Path(tlbook.__file__).parent
    chapters = {re.fullmatch(r"_exercises_ch(\d+)\.py", p.name).group(1)
                for p in package.glob("_exercises_ch*.py")}
    known_chapters = {i.split(".")[0] for i in known_exercises()}
    assert chapters <= known_chapters


# ------------------------------------------- speed: type first, values cached


def test_expected_values_are_computed_once_per_process(capsys):
    calls = []

    def expected():
        calls.append(1)
        return 4.0

    @register("0.96", hint="Four.")
    def _four(answer):
        return close_to(expected, tol=0)(answer)

    try:
        assert check("0.96", 3.0) is False and check("0.96", 4.0) is True
        assert calls == [1]  # the retry did not recompute the expected value
        assert check("0.96", "four") is False  # the type is checked before computing
        assert "Expected a number" in capsys.readouterr().out
    finally:
        exercises._REGISTRY.pop("0.96", None)


def test_one_of_checks_the_type_before_computing_the_options():
    calls = []

    def options():
        calls.append(1)
        return ["news"]

    checker = one_of(options, answer_type=str)
    with pytest.raises(exercises.AnswerTypeError, match="Expected a string, got int"):
        checker(3)
    assert calls == []
    assert checker(" News") and calls == [1]


def test_a_wrong_type_for_3_2_is_told_at_once(capsys):
    import time

    start = time.perf_counter()
    assert check("3.2", 3) is False
    assert time.perf_counter() - start < 2  # no perplexity computed to say so
    assert "Expected a string, got int." in capsys.readouterr().out


def test_same_as_inputs_are_not_changed_by_the_learners_function():
    # A function that changes its input in place must not spoil the reference.
    checker = same_as(lambda x: x * 2, lambda: [np.ones(3)], tol=0)

    def doubles_in_place(x):
        x *= 2
        return x

    assert checker(doubles_in_place)
    assert checker(lambda x: x * 2)  # the cached input is still ones


def test_function_returning_none_is_told_about_its_body():
    with pytest.raises(NotYet, match="returned None.*return statement"):
        same_as(lambda x: x, [1.0])(lambda x: None)


# -------------------------------------------- the package's own function


def test_the_packages_own_function_is_not_accepted(capsys):
    pytest.importorskip("torch")
    from tlbook.embeddings import mean_pool

    assert check("1.2", mean_pool) is False
    assert "package's own tlbook.embeddings.mean_pool" in capsys.readouterr().out
    assert check("1.2", lambda h, m: mean_pool(h, m)) is False  # a wrapper calls it
    assert "package's own" in capsys.readouterr().out


def test_hints_of_2_4_and_4_5_do_not_state_the_answer():
    exercises._load_chapter_checkers("2")
    hint_24, hint_45 = exercises._REGISTRY["2.4"][1], exercises._REGISTRY["4.5"][1]
    assert "similarity(" not in hint_24 and "money" not in hint_24  # was the whole computation
    assert not re.search(r"\d", hint_45)  # was the formula with the numbers filled in


def test_progress_reports_the_latest_verdicts_of_a_chapter(capsys, monkeypatch):
    monkeypatch.setattr(exercises, "_LATEST", {})
    check("2.3", lambda v_c, u_o, u_neg: 0.0)  # wrong
    check("2.3", lambda v_c, u_o, u_neg: float(np.logaddexp(0, -(np.dot(u_o, v_c)))
                                               + np.logaddexp(0, np.dot(u_neg, v_c)).sum()))
    capsys.readouterr()
    status = exercises.progress(2)
    assert status == {"2.1": "not checked yet", "2.2": "not checked yet", "2.3": "correct",
                      "2.4": "not checked yet", "2.5": "open-ended"}
    assert capsys.readouterr().out.startswith("Chapter 2: 1 of 4 exercises with a check are correct.")
    with pytest.raises(ValueError, match="chapter must be one of 1, 2"):
        exercises.progress(99)
