"""Chapter 08's tabular checks (``grading.checks.chapter08_tabular``) against the stubs, plausible wrong answers (each
graded incorrect, with a message naming the mistake) and right answers written differently from the reference (each
graded correct).

Each answer is the reference function (``validate_features`` of ``tabular_handler.py``, ``export_onnx`` of
``tabular_onnx.py``, from the solved starters) with a few exact edits, renamed ``<exercise>__<case>``. All the answers
to one exercise are added to the end of ONE submission's file, so that they share one student process (the handler
loads scikit-learn and its model once, not once per answer); the check is given a stand-in for the module whose
functions are that answer's.
"""

from types import SimpleNamespace

import pytest
from conftest import graded_correct, renamed_answer

from grading.checks import chapter08_tabular as checks
from grading.outcomes import Incorrect, NotAttempted
from grading.targets import Target

CHAPTER, HANDLER, EXPORT = "08_explore_more", "tabular_handler.py", "tabular_onnx.py"
HANDLER_END = ('    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, '
               '"body": json.dumps(result)}\n')
EXPORT_END = '            "max_abs_diff": float(difference.max()), "mean_abs_diff": float(difference.mean())}\n'


def reference_function(solved_files, script: str, name: str) -> str:
    """The source of the reference function ``name`` of ``script`` (to the next top-level definition)."""
    text = solved_files[f"{CHAPTER}/{script}"]
    start = text.index(f"\ndef {name}(") + 1
    return text[start:text.index("\n\n\n", start)] + "\n"


def shared_module(submission, solved_files, shared, script: str, end: str, extra: str, imports=()):
    """The submission's ``script`` (one student process per test module) with ``extra`` added after ``end``."""
    if script not in shared:
        target = submission(CHAPTER, {script: [*imports, (end, end + extra)]})
        shared[script] = target, target.module(CHAPTER, script)
    return shared[script][1]


def test_the_stubs_are_not_attempted(tmp_path):
    starters = Target("starters", tmp_path)
    try:
        with pytest.raises(NotAttempted, match=r"validate_features: not attempted yet\. return payload\["):
            checks.check_validate_features(starters.module(CHAPTER, HANDLER))
        with pytest.raises(NotAttempted, match="export_onnx: not attempted yet. return the bytes of model"):
            checks.check_export_onnx(starters.module(CHAPTER, EXPORT))
    finally:
        starters.close()


# ---------------------------------------------------------------------------------------------- validate_features

TYPE_CHECK = "        if isinstance(value, bool) or not isinstance(value, (int, float)):\n"
FINITE_CHECK = ('        if isinstance(value, float) and not math.isfinite(value):\n'
                '            raise RequestError(400, "not_a_number", f"{name} is {value}: NaN and Infinity are not '
                'numbers the model "\n'
                '                               "can use")\n')
RANGE_CHECK = "        if not low <= value <= high:\n"
RANGE_RAISE = ('            raise RequestError(400, "out_of_range", f"{name} is outside [{low}, {high}], the range the '
               'model was "\n')
RETURN_ROW = "    return np.array([values], dtype=np.float32)\n"
DICT_VALUES = "        values = [features[name] for name in FEATURE_NAMES]\n"
UNKNOWN = "        unknown = [name for name in features if name not in RANGES]\n"
LOOP_TO_RETURN = (
    "    for name, value in zip(FEATURE_NAMES, values):\n" + TYPE_CHECK
    + '            raise RequestError(400, "not_a_number", f"{name} is {_json_kind(value)}, not a number")\n'
    + FINITE_CHECK + "        low, high = RANGES[name]\n" + RANGE_CHECK + RANGE_RAISE
    + '                               "trained on (with a margin): it cannot answer there")\n' + RETURN_ROW)
LIST_BRANCH = "    elif isinstance(features, list):\n"
NOT_A_LIST = ('    else:\n        raise RequestError(400, "invalid_features", \'"features" must be a list of numbers '
              "or an object '\n                           f\"{{name: number}}, not {type(features).__name__}\")\n")
GET = '    features = payload.get("features") if isinstance(payload, dict) else None\n'

VALIDATE_WRONG = {
    "accepts_bools": ([(TYPE_CHECK, "        if not isinstance(value, (int, float)):\n")],
                      "true for proline: validate_features accepted it.*refuse bools before ints"),
    "nan_refused_as_out_of_range": ([(FINITE_CHECK, "")],
                                    "NaN for alcohol .*expected RequestError 400 not_a_number, got 400 out_of_range"),
    "nan_through_a_range_check_written_with_or": (
        [(FINITE_CHECK, ""), (RANGE_CHECK, "        if value < low or value > high:\n")],
        "NaN for alcohol .*accepted it.*math.isfinite"),
    "no_range_check": ([(RANGE_CHECK + RANGE_RAISE + '                               "trained on (with a margin): it '
                         'cannot answer there")\n', "")],
                       "alcohol [0-9.]+, below its range: validate_features accepted it"),
    "exclusive_bounds": ([(RANGE_CHECK, "        if not low < value < high:\n")],
                         "at the low end of its range: validate_features raised RequestError 400 out_of_range "
                         ".*for a good request: bounds are included"),
    "one_dimensional_row": ([(RETURN_ROW, "    return np.array(values, dtype=np.float32)\n")],
                            r"expected shape \(1, 13\).*got shape \(13,\)"),
    "float64_row": ([(RETURN_ROW, "    return np.array([values], dtype=float)\n")], "expected float32.*got float64"),
    "a_list_not_an_array": ([(RETURN_ROW, "    return [[float(v) for v in values]]\n")],
                            "should return a numpy array, got list"),
    "dict_values_in_the_client_order": ([(DICT_VALUES, "        values = list(features.values())\n")],
                                        "in the order of FEATURE_NAMES, not in the order of the client's object"),
    "unknown_names_ignored": ([(UNKNOWN, "        unknown = []\n")],
                              "an unknown name besides the 13: validate_features accepted it"),
    "integers_refused": ([(TYPE_CHECK, "        if not isinstance(value, float):\n")],
                         "JSON integers.*raised RequestError 400 not_a_number .*for a good request: JSON has one "
                         "kind of number"),
    "float_before_the_range_check": ([(RANGE_CHECK, "        value = float(value)\n" + RANGE_CHECK)],
                                     "10\\*\\*400.*raised OverflowError.*before float"),
    "numpy_conversion_only": ([(LOOP_TO_RETURN, (
        "    try:\n"
        "        row = np.array([values], dtype=np.float32)\n"
        "    except (TypeError, ValueError):\n"
        '        raise RequestError(400, "not_a_number", "a feature is not a number") from None\n'
        "    if not np.isfinite(row).all():\n"
        '        raise RequestError(400, "not_a_number", "NaN or Infinity")\n'
        "    low = np.array([RANGES[name][0] for name in FEATURE_NAMES])\n"
        "    high = np.array([RANGES[name][1] for name in FEATURE_NAMES])\n"
        "    if ((row < low) | (row > high)).any():\n"
        '        raise RequestError(400, "out_of_range", "out of range")\n'
        "    return row\n"))],
        "the string '14.23' for alcohol: validate_features accepted it.*np.array"),
    "a_string_iterated_as_a_list": ([(LIST_BRANCH, "    else:\n"), (NOT_A_LIST, "")],
                                    "features as one string: expected RequestError 400 invalid_features, got 400 "
                                    "wrong_feature_count"),
    "missing_key_raises_keyerror": ([(GET, '    features = payload["features"]\n')],
                                    "a request without features: validate_features raised KeyError"),
    "value_error_for_a_string": (
        [(TYPE_CHECK + '            raise RequestError(400, "not_a_number", ',
          TYPE_CHECK + '            raise ValueError(')],
        "the string '14.23' for alcohol: validate_features raised ValueError .*any other exception is a 500"),
    "out_of_range_as_422": ([(RANGE_RAISE, RANGE_RAISE.replace("400", "422"))],
                            "expected RequestError 400 out_of_range, got 422 out_of_range"),
}

VALIDATE_RIGHT = {
    "types_by_exact_class_and_a_reshape": (
        "    features = payload.get(\"features\")\n"
        "    if features is None:\n"
        "        raise RequestError(400, \"missing_features\", \"no features\")\n"
        "    if isinstance(features, dict):\n"
        "        if set(features) != set(FEATURE_NAMES):\n"
        "            raise RequestError(400, \"wrong_feature_names\", \"names\")\n"
        "        features = [features[name] for name in FEATURE_NAMES]\n"
        "    if not isinstance(features, list):\n"
        "        raise RequestError(400, \"invalid_features\", \"not a list\")\n"
        "    if len(features) != len(FEATURE_NAMES):\n"
        "        raise RequestError(400, \"wrong_feature_count\", \"count\")\n"
        "    if any(type(v) not in (int, float) for v in features):  # type(True) is bool, not int\n"
        "        raise RequestError(400, \"not_a_number\", \"type\")\n"
        "    if not all(math.isfinite(v) for v in features if isinstance(v, float)):\n"
        "        raise RequestError(400, \"not_a_number\", \"NaN or Infinity\")\n"
        "    bounds = [RANGES[name] for name in FEATURE_NAMES]\n"
        "    if any(not lo <= v <= hi for v, (lo, hi) in zip(features, bounds)):\n"
        "        raise RequestError(400, \"out_of_range\", \"range\")\n"
        "    return np.asarray(features, dtype=np.float32).reshape(1, -1)\n"),
    "numbers_real_and_a_preallocated_row": (
        "    if \"features\" not in payload or payload[\"features\"] is None:\n"
        "        raise RequestError(400, \"missing_features\", \"no features\")\n"
        "    features = payload[\"features\"]\n"
        "    if isinstance(features, dict):\n"
        "        if sorted(features) != sorted(FEATURE_NAMES):\n"
        "            raise RequestError(400, \"wrong_feature_names\", \"names\")\n"
        "        values = [features[name] for name in FEATURE_NAMES]\n"
        "    elif type(features) is list:\n"
        "        if len(features) != len(FEATURE_NAMES):\n"
        "            raise RequestError(400, \"wrong_feature_count\", \"count\")\n"
        "        values = features\n"
        "    else:\n"
        "        raise RequestError(400, \"invalid_features\", \"neither a list nor an object\")\n"
        "    row = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)\n"
        "    for i, (name, value) in enumerate(zip(FEATURE_NAMES, values)):\n"
        "        if isinstance(value, bool) or not isinstance(value, numbers.Real):\n"
        "            raise RequestError(400, \"not_a_number\", name)\n"
        "        if value != value or value in (math.inf, -math.inf):\n"
        "            raise RequestError(400, \"not_a_number\", name)\n"
        "        low, high = RANGES[name]\n"
        "        if value < low or value > high:\n"
        "            raise RequestError(400, \"out_of_range\", name)\n"
        "        row[0, i] = value\n"
        "    return row\n"),
}
IMPORT_NUMBERS = ("import math\n", "import math\nimport numbers\n")


def _validate_body(reference: str) -> str:
    """The body of the reference ``validate_features``, from its first line of code to its return."""
    return reference[reference.index(GET):reference.index(RETURN_ROW) + len(RETURN_ROW)]


def validate_answers(submission, solved_files, shared):
    """The student process holding every answer to ``validate_features`` (wrong and right)."""
    reference = reference_function(solved_files, HANDLER, "validate_features")
    cases = {case: edits for case, (edits, _) in VALIDATE_WRONG.items()}
    cases |= {case: [(_validate_body(reference), body)] for case, body in VALIDATE_RIGHT.items()}
    extra = "".join("\n\n" + renamed_answer(reference, "validate_features", case, edits)
                    for case, edits in cases.items())
    return shared_module(submission, solved_files, shared, HANDLER, HANDLER_END, extra, [IMPORT_NUMBERS])


def validate_case(module, case: str) -> SimpleNamespace:
    """A stand-in for the handler module whose ``validate_features`` is the answer ``case``."""
    return SimpleNamespace(validate_features=getattr(module, f"validate_features__{case}"),
                           RequestError=module.RequestError)


def test_the_reference_validate_features_is_correct(submission, solved_files, shared_submissions, capsys):
    module = validate_answers(submission, solved_files, shared_submissions)
    graded_correct(checks.check_validate_features, module, capsys, "validate_features")


@pytest.mark.parametrize("case", VALIDATE_WRONG)
def test_validate_features_wrong_answer_is_incorrect(submission, solved_files, shared_submissions, case):
    module = validate_answers(submission, solved_files, shared_submissions)
    with pytest.raises(Incorrect, match=VALIDATE_WRONG[case][1]):
        checks.check_validate_features(validate_case(module, case))


@pytest.mark.parametrize("case", VALIDATE_RIGHT)
def test_validate_features_right_answer_is_correct(submission, solved_files, shared_submissions, capsys, case):
    module = validate_answers(submission, solved_files, shared_submissions)
    graded_correct(checks.check_validate_features, validate_case(module, case), capsys, "validate_features")


# ---------------------------------------------------------------------------------------------------- export_onnx

TO_ONNX = ('    onx = to_onnx(model, initial_types=[("features", FloatTensorType([None, n_features]))],\n'
           '                  options={"zipmap": False})\n')
SERIALISED = "    return onx.SerializeToString()\n"
IMPORT_TYPES = ("from skl2onnx.common.data_types import FloatTensorType\n",
                "from skl2onnx import convert_sklearn\n"
                "from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType\n")


def to_onnx_as(line: str):
    return [(TO_ONNX, line)]


EXPORT_WRONG = {
    "batch_size_fixed_to_1": (to_onnx_as('    onx = to_onnx(model, initial_types=[("features", FloatTensorType([1, '
                                         'n_features]))],\n                  options={"zipmap": False})\n'),
                              "the batch dimension is fixed to 1: write None"),
    "double_input": (to_onnx_as('    onx = to_onnx(model, initial_types=[("features", DoubleTensorType([None, '
                                'n_features]))],\n                  options={"zipmap": False})\n'),
                     "the input is double .*use FloatTensorType"),
    "float64_sample_rows": (to_onnx_as('    onx = to_onnx(model, np.zeros((1, n_features)), '
                                       'options={"zipmap": False})\n'),
                            "the input is double"),
    "thirteen_features_written_in": (to_onnx_as('    onx = to_onnx(model, initial_types=[("features", '
                                                'FloatTensorType([None, 13]))],\n'
                                                '                  options={"zipmap": False})\n'),
                                     "a pipeline of 5 features .*raised RuntimeError.*n_features = 5"),
    "zipmap_left_on": (to_onnx_as('    onx = to_onnx(model, initial_types=[("features", FloatTensorType([None, '
                                  'n_features]))])\n'),
                       "no output named 'probabilities'.*zipmap"),
    "last_step_only": (to_onnx_as('    onx = to_onnx(model.steps[-1][1], initial_types=[("features", '
                                  'FloatTensorType([None, n_features]))],\n'
                                  '                  options={"zipmap": False})\n'),
                       "differ from the pipeline's predict_proba .*the scaler"),
    "model_proto_returned": ([(SERIALISED, "    return onx\n")], "should return the ONNX model's bytes"),
}
EXPORT_RIGHT = {
    "sample_rows_in_float32": to_onnx_as('    onx = to_onnx(model, np.zeros((1, n_features), dtype=np.float32),\n'
                                         '                  options={"zipmap": False})\n'),
    "convert_sklearn_options_by_id_and_another_input_name": to_onnx_as(
        '    onx = convert_sklearn(model, initial_types=[("X", FloatTensorType([None, n_features]))],\n'
        '                          options={id(model): {"zipmap": False}})\n'),
}


def export_answers(submission, solved_files, shared):
    """The student process holding every answer to ``export_onnx``, each with its own ``export_onnx_from_file``."""
    reference = reference_function(solved_files, EXPORT, "export_onnx")
    cases = {case: edits for case, (edits, _) in EXPORT_WRONG.items()} | EXPORT_RIGHT
    extra = "".join("\n\n" + renamed_answer(reference, "export_onnx", case, edits)
                    + f"\n\ndef export_onnx_from_file__{case}(path, n_features):\n    import joblib\n\n"
                      f"    return export_onnx__{case}(joblib.load(path), n_features)\n"
                    for case, edits in cases.items())
    return shared_module(submission, solved_files, shared, EXPORT, EXPORT_END, extra, [IMPORT_TYPES])


def export_case(module, case: str) -> SimpleNamespace:
    """A stand-in for ``tabular_onnx`` whose ``export_onnx_from_file`` exports with the answer ``case``."""
    return SimpleNamespace(export_onnx_from_file=getattr(module, f"export_onnx_from_file__{case}"))


def test_the_reference_export_onnx_is_correct(submission, solved_files, shared_submissions, capsys):
    module = export_answers(submission, solved_files, shared_submissions)
    graded_correct(checks.check_export_onnx, module, capsys, "export_onnx")


@pytest.mark.parametrize("case", EXPORT_WRONG)
def test_export_onnx_wrong_answer_is_incorrect(submission, solved_files, shared_submissions, case):
    module = export_answers(submission, solved_files, shared_submissions)
    with pytest.raises(Incorrect, match=EXPORT_WRONG[case][1]):
        checks.check_export_onnx(export_case(module, case))


@pytest.mark.parametrize("case", EXPORT_RIGHT)
def test_export_onnx_right_answer_is_correct(submission, solved_files, shared_submissions, capsys, case):
    module = export_answers(submission, solved_files, shared_submissions)
    graded_correct(checks.check_export_onnx, export_case(module, case), capsys, "export_onnx")


def test_export_onnx_from_file_is_needed():
    with pytest.raises(Incorrect, match="has no export_onnx_from_file: it is given code"):
        checks.check_export_onnx(SimpleNamespace())
