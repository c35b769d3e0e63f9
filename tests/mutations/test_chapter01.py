"""Chapter 01's checks against plausible wrong answers (each graded incorrect, with a message naming the mistake) and
right answers written differently from the reference (each graded correct).

Each answer is the reference exercise function of the notebook (the solved starter of ``01_intro/01_intro.ipynb``)
with a few exact edits, renamed ``<exercise>__<case>``. All the answers of one exercise are added, as extra
functions, to the exercise cell of ONE submission (the ``submission`` fixture), so that they share one student
process: classify's loads TensorFlow and the Keras model once, not once per answer.
"""

import json

import nbformat
import pytest
from conftest import graded_correct, renamed_answer

from grading.checks import chapter01 as checks
from grading.outcomes import Incorrect

CHAPTER, NOTEBOOK = "01_intro", "01_intro.ipynb"


def reference_function(solved_files, name: str) -> str:
    """The source of the reference function ``name`` in the notebook's exercise cells (to the end of its cell)."""
    nb = nbformat.reads(solved_files[f"{CHAPTER}/{NOTEBOOK}"], as_version=4)
    source = next(cell.source for cell in nb.cells if cell.cell_type == "code" and f"def {name}(" in cell.source)
    return source[source.index(f"def {name}("):] + "\n"


def answers(submission, solved_files, shared, name: str, anchor: str, cases: dict):
    """The notebook's exercise namespace (in one student process, made once per module) holding every answer of
    ``cases`` ({case: edits}) to exercise ``name`` as ``<name>__<case>``. The answers are added to the exercise cell
    after ``anchor``, a line of it (a notebook edit: written as it appears in the JSON text)."""
    if name not in shared:
        reference = reference_function(solved_files, name)
        extra = "".join("\n\n" + renamed_answer(reference, name, case, edits) for case, edits in cases.items())
        escaped = json.dumps(anchor)[1:-1]
        target = submission(CHAPTER, {NOTEBOOK: [(escaped, escaped + json.dumps(extra)[1:-1])]})
        shared[name] = target, target.notebook(CHAPTER, NOTEBOOK)
    return shared[name][1]


# ------------------------------------------------------------------------------------------- lambda_monthly_cost

BODY = """    billed_ms = math.ceil(duration_ms)
    gb_seconds = predictions * billed_ms / 1000 * memory_mb / 1024
    requests = predictions
    if free_tier:
        gb_seconds = max(0.0, gb_seconds - FREE_TIER_GB_SECONDS)
        requests = max(0, requests - FREE_TIER_REQUESTS)
    return float(gb_seconds * PRICE_PER_GB_SECOND[architecture] + requests / 1e6 * PRICE_PER_MILLION_REQUESTS)
"""
CEIL = "    billed_ms = math.ceil(duration_ms)\n"
GB_SECONDS = "    gb_seconds = predictions * billed_ms / 1000 * memory_mb / 1024\n"
FREE_GB_SECONDS = "        gb_seconds = max(0.0, gb_seconds - FREE_TIER_GB_SECONDS)\n"
FREE_REQUESTS = "        requests = max(0, requests - FREE_TIER_REQUESTS)\n"
RETURN = ("    return float(gb_seconds * PRICE_PER_GB_SECOND[architecture] + requests / 1e6 * "
          "PRICE_PER_MILLION_REQUESTS)\n")

COST_WRONG = {
    "duration_not_rounded_up": ([(CEIL, "    billed_ms = duration_ms\n")], r"billed per 1 ms, rounded up on its own"),
    "duration_rounded_to_nearest_ms": ([(CEIL, "    billed_ms = round(duration_ms)\n")],
                                       r"rounded UP to the next whole ms \(math.ceil\), not to the nearest or down"),
    "duration_truncated_to_whole_ms": ([(CEIL, "    billed_ms = int(duration_ms)\n")],
                                       r"rounded UP to the next whole ms"),
    "billed_in_100_ms_increments": ([(CEIL, "    billed_ms = math.ceil(duration_ms / 100) * 100\n")],
                                    r"per 1 ms, not in 100 ms increments"),
    "month_rounded_up_once": ([(CEIL, ""), (GB_SECONDS, "    gb_seconds = math.ceil(predictions * duration_ms) / 1000"
                                                         " * memory_mb / 1024\n")],
                              r"billed per 1 ms, rounded up on its own.*nor rounded up once for the month"),
    "megabytes_over_1000": ([(GB_SECONDS, GB_SECONDS.replace("/ 1024", "/ 1000"))],
                            r"GB = MB / 1024 \(1,024 MB is 1 GB\), not MB / 1000"),
    "requests_priced_each": ([(RETURN, RETURN.replace("requests / 1e6 *", "requests *"))],
                             r"\$0.20 per million .*, not each"),
    "requests_not_billed": ([(RETURN, RETURN.replace(" + requests / 1e6 * PRICE_PER_MILLION_REQUESTS", ""))],
                            r"the requests are billed too"),
    "arm64_price_ignored": ([(RETURN, RETURN.replace("[architecture]", '["x86_64"]'))],
                            r"arm64 has its own, lower price"),
    "free_tier_always_applied": ([("    if free_tier:\n", "    if True:\n")], r"without free_tier .*, nothing is free"),
    "free_tier_only_on_requests": ([(FREE_GB_SECONDS, "")],
                                   r"the free tier also covers 400,000 GB-seconds \(FREE_TIER_GB_SECONDS\)"),
    "free_tier_only_on_gb_seconds": ([(FREE_REQUESTS, "")],
                                     r"the free tier also covers 1,000,000 requests \(FREE_TIER_REQUESTS\)"),
    "free_tier_below_zero": ([(FREE_GB_SECONDS, "        gb_seconds = gb_seconds - FREE_TIER_GB_SECONDS\n"),
                              (FREE_REQUESTS, "        requests = requests - FREE_TIER_REQUESTS\n")],
                             r"a bill is never negative"),
    "free_gb_seconds_below_zero": ([(FREE_GB_SECONDS, "        gb_seconds = gb_seconds - FREE_TIER_GB_SECONDS\n")],
                                   r"a bill is never negative"),
    "free_tier_taken_off_the_total": (
        [(BODY, "    gb_seconds = predictions * math.ceil(duration_ms) / 1000 * memory_mb / 1024\n"
                "    cost = gb_seconds * PRICE_PER_GB_SECOND[architecture] + predictions / 1e6 * "
                "PRICE_PER_MILLION_REQUESTS\n"
                "    if free_tier:\n"
                "        free = FREE_TIER_GB_SECONDS * PRICE_PER_GB_SECOND[architecture] + FREE_TIER_REQUESTS / 1e6 * "
                "PRICE_PER_MILLION_REQUESTS\n"
                "        cost = max(0.0, cost - free)\n"
                "    return cost\n")],
        r"each allowance is subtracted from its own part.*the unused free requests do not pay for GB-seconds"),
    "rounded_to_cents": ([(RETURN, RETURN.replace("return float(", "return round(").replace(")\n", ", 2)\n"))],
                         r"not rounded to cents"),
    "formatted_as_dollars": ([(RETURN, RETURN.replace("return float(", 'return "$%.6f" % ('))],
                             r"should return the dollars as a float, got str"),
}

COST_RIGHT = {
    "each_part_on_its_own": [(BODY, """    billed_seconds = -(-duration_ms // 1) / 1000  # whole ms, rounded up
    free_gb_seconds, free_requests = (FREE_TIER_GB_SECONDS, FREE_TIER_REQUESTS) if free_tier else (0, 0)
    duration_cost = max(predictions * billed_seconds * (memory_mb / 1024) - free_gb_seconds, 0)
    request_cost = max(predictions - free_requests, 0) * (PRICE_PER_MILLION_REQUESTS / 1_000_000)
    return duration_cost * PRICE_PER_GB_SECOND[architecture] + request_cost
""")],
    "numpy_ceil_and_clip": [(BODY, """    import numpy as np

    gb = memory_mb / 1024
    gb_seconds = predictions * np.ceil(duration_ms) * gb / 1000
    paid_gb_seconds = np.clip(gb_seconds - FREE_TIER_GB_SECONDS * free_tier, 0, None)
    paid_requests = np.clip(predictions - FREE_TIER_REQUESTS * free_tier, 0, None)
    return paid_gb_seconds * PRICE_PER_GB_SECOND[architecture] + paid_requests * PRICE_PER_MILLION_REQUESTS / 1e6
""")],
}

COST_ANCHOR = RETURN


@pytest.fixture
def cost_answers(submission, solved_files, shared_submissions):
    cases = {**{case: edits for case, (edits, _) in COST_WRONG.items()}, **COST_RIGHT}
    return answers(submission, solved_files, shared_submissions, "lambda_monthly_cost", COST_ANCHOR, cases)


@pytest.mark.parametrize("case", COST_WRONG)
def test_lambda_monthly_cost_wrong_answer_is_incorrect(cost_answers, case):
    with pytest.raises(Incorrect, match=COST_WRONG[case][1]):
        checks.check_lambda_monthly_cost(getattr(cost_answers, f"lambda_monthly_cost__{case}"))


@pytest.mark.parametrize("case", COST_RIGHT)
def test_lambda_monthly_cost_right_answer_is_correct(cost_answers, case, capsys):
    graded_correct(checks.check_lambda_monthly_cost, getattr(cost_answers, f"lambda_monthly_cost__{case}"), capsys,
                   "lambda_monthly_cost")


# ------------------------------------------------------------------------------------------------------ classify

PREPROCESS = "    x = preprocessor.from_path(str(image_path))  # float array (1, size, size, 3), values in [-1, 1]\n"
LOGITS = "    logits = model.predict(x, verbose=0)[0].astype(np.float64)  # (10,)\n"
SOFTMAX = "    exp = np.exp(logits - logits.max())\n    probabilities = exp / exp.sum()\n"
RESULT = "    return {name: float(p) for name, p in zip(classes, probabilities)}\n"


def by_hand(scaling: str, resample: str = "Image.NEAREST", rgb: bool = True):
    """Preprocessing written with Pillow and NumPy: ``scaling`` of the pixel array ``a``, ``resample`` filter."""
    convert = '.convert("RGB")' if rgb else ""
    return [(PREPROCESS, f"""    from PIL import Image

    with Image.open(image_path) as image:
        a = np.asarray(image{convert}.resize((size, size), {resample}), dtype=np.float32)
    x = ({scaling})[None]
""")]


CLASSIFY_WRONG = {
    "pixels_scaled_to_0_1": (by_hand("a / 255"), r"pixels scaled as x / 127.5 - 1"),
    "raw_pixels": (by_hand("a"), r"pixels scaled as x / 127.5 - 1"),
    "scaled_but_resized_bilinear": (by_hand("a / 127.5 - 1", "Image.BILINEAR"),
                                    r"resized to the model's input size \(224 x 224, nearest neighbour\)"),
    "greyscale_not_converted_to_rgb": (by_hand("a / 127.5 - 1", rgb=False),
                                       r"raised ValueError.*an RGB image"),
    "course_input_size_299": ([("    size = int(model.input_shape[1])\n", "    size = 299\n")],
                              r"resized to the model's input size"),
    "logits_returned": ([(SOFTMAX, "    probabilities = logits\n")], r"are these the raw logits"),
    "sigmoid_instead_of_softmax": ([(SOFTMAX, "    probabilities = 1 / (1 + np.exp(-logits))\n")],
                                   r"should sum to 1 \(the softmax of the logits"),
    "softmax_over_the_batch_axis": (
        [(LOGITS, "    logits = model.predict(x, verbose=0).astype(np.float64)  # (1, 10)\n"),
         (SOFTMAX, "    exp = np.exp(logits - logits.max(axis=0))\n    probabilities = (exp / exp.sum(axis=0))[0]\n")],
        r"a softmax over the wrong axis"),
    "numpy_float32_values": ([(RESULT, "    return dict(zip(classes, probabilities.astype(np.float32)))\n")],
                             r"plain Python floats \(float\(p\)\), got float32"),
    "top_class_only": ([(RESULT, "    best = int(probabilities.argmax())\n"
                                 "    return {classes[best]: float(probabilities[best])}\n")],
                       r"a probability for every one of the 10 classes"),
    "list_of_probabilities": ([(RESULT, "    return [float(p) for p in probabilities]\n")],
                              r"should return a dict of class name -> probability, got list"),
    "classes_reversed": ([(RESULT, RESULT.replace("zip(classes,", "zip(reversed(classes),"))],
                         r"attached to the wrong classes"),
}

CLASSIFY_RIGHT = {
    "pillow_by_hand_and_a_direct_call": [
        *by_hand("a / 127.5 - 1"),
        (LOGITS, "    logits = np.asarray(model(x, training=False))[0]  # float32\n"),
        (SOFTMAX, "    e = np.exp(logits)  # these logits are small: no overflow without the shift\n"
                  "    probabilities = e / e.sum()\n"),
        (RESULT, "    return dict(zip(classes, map(float, probabilities)))\n")],
    "path_passed_as_is_and_sorted_softmax": [
        (PREPROCESS, "    x = preprocessor.from_path(image_path)  # Pillow opens a Path as well as a str\n"),
        (SOFTMAX, "    shifted = logits - np.max(logits)\n"
                  "    probabilities = np.exp(shifted - np.log(np.sum(np.exp(shifted))))\n"),
        (RESULT, "    return {classes[i]: probabilities[i].item() for i in np.argsort(-probabilities)}\n")],
}


@pytest.fixture
def classify_answers(submission, solved_files, shared_submissions):
    cases = {**{case: edits for case, (edits, _) in CLASSIFY_WRONG.items()}, **CLASSIFY_RIGHT}
    return answers(submission, solved_files, shared_submissions, "classify", RESULT, cases)


@pytest.mark.parametrize("case", CLASSIFY_WRONG)
def test_classify_wrong_answer_is_incorrect(classify_answers, case):
    with pytest.raises(Incorrect, match=CLASSIFY_WRONG[case][1]):
        checks.check_classify(getattr(classify_answers, f"classify__{case}"))


@pytest.mark.parametrize("case", CLASSIFY_RIGHT)
def test_classify_right_answer_is_correct(classify_answers, case, capsys):
    graded_correct(checks.check_classify, getattr(classify_answers, f"classify__{case}"), capsys, "classify")
