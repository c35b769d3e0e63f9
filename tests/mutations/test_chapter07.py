"""Mutation tests of chapter 07's checks (``compare.py``, ``batch.py``, ``monitoring.py``): plausible wrong answers
are graded incorrect, with a message that names the mistake, and right answers written differently from the
reference are graded correct.

Each case is the reference solution with a few exact text edits (``submission`` in tests/conftest.py), run in the
grading sandbox. No model, no AWS: the whole file takes seconds.
"""

import pytest

from grading.checks import chapter07 as checks
from grading.outcomes import Incorrect

CHAPTER = "07_production"

# ------------------------------------------------------------------------------------------------ percentile

RANK = "    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]\n"
SORT = "    ordered = sorted(values)\n"
EMPTY = "    if not values:\n        return None\n"
PERCENTILE_REGION = EMPTY + SORT + RANK

PERCENTILE_WRONG = {
    # numpy's default interpolates between the two nearest values: 2.5 for p50 of 1, 2, 3, 4.
    "numpy_linear_interpolation": ([(PERCENTILE_REGION, EMPTY + "    import numpy as np\n"
                                     "    return float(np.percentile(values, p))\n")], "not an interpolation"),
    "index_off_by_one": ([(RANK, "    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]\n")],
                         r"percentile\(\[1, 2, ..., 100\], 50\) should be 50"),
    "rounds_the_rank": ([(RANK, "    return ordered[max(0, round(p / 100 * len(ordered)) - 1)]\n")],
                        r"percentile\(\[4.0, 1.0, 3.0, 2.0\], 30\) should be 2.0"),
    "forgets_to_sort": ([(SORT, "    ordered = list(values)\n")], r"should be 2.0"),
    "rank_over_n_minus_1": ([(RANK, "    return ordered[math.ceil(p / 100 * (len(ordered) - 1))]\n")],
                            r"should be 50"),
    "p_taken_as_a_fraction": ([(RANK, "    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]\n")],
                              r"raised IndexError"),
    "crashes_on_no_values": ([(EMPTY, "")], r"percentile\(\[\], 95\) raised"),
    "zero_for_no_values": ([(EMPTY, "    if not values:\n        return 0.0\n")], r"should be None"),
}

PERCENTILE_RIGHT = {
    # numpy's nearest-rank method (inverted_cdf), as a plain float.
    "numpy_inverted_cdf": [(PERCENTILE_REGION, "    if len(values) == 0:\n        return None\n"
                            "    import numpy as np\n"
                            "    return np.percentile(values, p, method='inverted_cdf').item()\n")],
    # Counting: the first value with at least p % of the values at or below it.
    "first_value_covering_p_percent": [(PERCENTILE_REGION, '''\
    ordered = sorted(values)
    for i, value in enumerate(ordered, start=1):
        if i * 100 >= p * len(ordered):
            return value
    return None
''')],
}


@pytest.mark.parametrize("mistake", PERCENTILE_WRONG)
def test_percentile_wrong_answers_are_incorrect(submission, mistake):
    edits, message = PERCENTILE_WRONG[mistake]
    target = submission(CHAPTER, {"compare.py": edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_percentile(target.module(CHAPTER, "compare.py"))


@pytest.mark.parametrize("variant", PERCENTILE_RIGHT)
def test_percentile_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {"compare.py": PERCENTILE_RIGHT[variant]})
    assert checks.check_percentile(target.module(CHAPTER, "compare.py")) is None
    assert "percentile: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ read_finished

TORN = '            record = json.loads(line) if line.endswith("\\n") else None\n'
KEEP_IF = ('        if (not isinstance(record, dict) or not isinstance(record.get("input"), str)'
           ' or record["input"] in finished\n'
           '                or (retry_errors and "error" in record)):\n')
REWRITE = "    if dropped:  # rewritten whole, then renamed over the old file: never left half-written\n"
REPLACE = "        os.replace(partial, output)\n"
CATCH = "        except ValueError:\n            record = None\n"
MISSING = "    if not output.exists():\n        return {}\n"
FINISHED_REGION = """\
    output = Path(output)
""" + MISSING + """\
    finished, dropped = {}, False
    for line in output.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        try:
""" + TORN + CATCH + KEEP_IF + """\
            dropped = True
            continue
        finished[record["input"]] = record
""" + REWRITE + """\
        partial = output.with_name(output.name + ".partial")
        partial.write_text("".join(json.dumps(r) + "\\n" for r in finished.values()), encoding="utf-8")
""" + REPLACE

FINISHED_WRONG = {
    "keeps_a_torn_line_that_parses": ([(TORN, "            record = json.loads(line)\n")],
                                      "no final newline: the run stopped while writing it"),
    "does_not_rewrite_the_file": ([(REWRITE, "    if False:\n")], "must be rewritten without the torn last line"),
    "keeps_the_last_of_a_repeated_input": ([(KEEP_IF, KEEP_IF.replace(' or record["input"] in finished', ""))],
                                           "keep the first"),
    "ignores_retry_errors": ([(KEEP_IF, KEEP_IF.replace(' or (retry_errors and "error" in record)', ""))],
                             "with retry_errors, an error line is not finished"),
    "drops_errors_always": ([(KEEP_IF, KEEP_IF.replace('(retry_errors and "error" in record)', '"error" in record'))],
                            "without retry_errors, an error line is a finished answer"),
    "crashes_on_a_line_that_is_not_json": ([(CATCH, "        except KeyError:\n            record = None\n")],
                                           "raised JSONDecodeError"),
    "crashes_on_a_json_array": ([(KEEP_IF, KEEP_IF.replace("not isinstance(record, dict) or ", "record is None or "))],
                                "raised AttributeError"),
    "crashes_without_a_file": ([(MISSING, "")], "raised FileNotFoundError"),
    "leaves_the_partial_file": ([(REPLACE, "        output.write_text(partial.read_text())\n")],
                                "leave no other file"),
}

FINISHED_RIGHT = {
    # Line by line with a file object, the torn tail by its missing newline; rewritten through a temporary file
    # always (simpler, and still atomic), lines kept as they were written.
    "always_rewrite_keeping_the_text": [(FINISHED_REGION, '''\
    import tempfile
    output = Path(output)
    try:
        handle = open(output, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    kept, finished = [], {}
    with handle:
        for line in handle:
            if not line.endswith("\\n"):
                break  # only the last line can be torn
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or type(record.get("input")) is not str:
                continue
            if record["input"] in finished or retry_errors and record.get("error") is not None:
                continue
            finished[record["input"]] = record
            kept.append(line)
    with tempfile.NamedTemporaryFile("w", dir=output.parent, delete=False, encoding="utf-8") as new:
        new.writelines(kept)
    os.replace(new.name, output)
''')],
}


@pytest.mark.parametrize("mistake", FINISHED_WRONG)
def test_read_finished_wrong_answers_are_incorrect(submission, mistake):
    edits, message = FINISHED_WRONG[mistake]
    target = submission(CHAPTER, {"batch.py": edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_read_finished(target.module(CHAPTER, "batch.py"))


@pytest.mark.parametrize("variant", FINISHED_RIGHT)
def test_read_finished_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {"batch.py": FINISHED_RIGHT[variant]})
    assert checks.check_read_finished(target.module(CHAPTER, "batch.py")) is None
    assert "read_finished: correct" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ version_dimensions

DIMS = '    return (("FunctionName", name), ("Resource", f"{name}:{alias}"), ("ExecutedVersion", str(version)))\n'

DIMS_WRONG = {
    "function_name_only": ([(DIMS, '    return (("FunctionName", name),)\n')], "would watch a metric that does not"),
    "no_resource": ([(DIMS, '    return (("FunctionName", name), ("ExecutedVersion", str(version)))\n')],
                    "would watch a metric that does not exist"),
    "resource_is_the_version": ([(DIMS, DIMS.replace('f"{name}:{alias}"', 'f"{name}:{version}"'))],
                                "the alias given, not the version"),
    "resource_without_the_function": ([(DIMS, DIMS.replace('f"{name}:{alias}"', "alias"))], "NAME:ALIAS"),
    "alias_hard_coded": ([(DIMS, DIMS.replace('f"{name}:{alias}"', 'f"{name}:live"'))], "shop-model:staging"),
    "version_not_a_string": ([(DIMS, DIMS.replace("str(version)", "version"))], "as a string"),
    "resource_as_dimension_name_typo": ([(DIMS, DIMS.replace('"ExecutedVersion"', '"Version"'))],
                                        "exactly the dimensions"),
}

DIMS_RIGHT = {
    # Another order, lists for pairs, the version formatted with an f-string.
    "other_order_and_lists": [(DIMS, '    return [["ExecutedVersion", f"{version}"], ["Resource", name + ":" + alias],'
                               ' ["FunctionName", name]]\n')],
    # From a dict.
    "from_a_dict": [(DIMS, '    dims = {"FunctionName": name, "Resource": ":".join([name, alias]), '
                     '"ExecutedVersion": str(version)}\n    return tuple(dims.items())\n')],
}


@pytest.mark.parametrize("mistake", DIMS_WRONG)
def test_version_dimensions_wrong_answers_are_incorrect(submission, mistake):
    edits, message = DIMS_WRONG[mistake]
    target = submission(CHAPTER, {"monitoring.py": edits})
    with pytest.raises(Incorrect, match=message):
        checks.check_version_dimensions(target.module(CHAPTER, "monitoring.py"))


@pytest.mark.parametrize("variant", DIMS_RIGHT)
def test_version_dimensions_right_answers_are_correct(submission, variant, capsys):
    target = submission(CHAPTER, {"monitoring.py": DIMS_RIGHT[variant]})
    assert checks.check_version_dimensions(target.module(CHAPTER, "monitoring.py")) is None
    assert "version_dimensions: correct" in capsys.readouterr().out
