"""Chapter 02's checks against plausible wrong answers (each graded incorrect, with a message naming the mistake) and
right answers written differently from the reference (each graded correct).

Each answer is the reference function of ``02_tflite/convert.py`` (the solved starter) with a few exact edits,
renamed ``<exercise>__<case>``. All the answers of one exercise are added, as extra functions, to the end of ONE
submission's ``convert.py`` (the ``submission`` fixture), so that they share one student process: convert's imports
TensorFlow once, not once per answer.
"""

import pytest
from conftest import graded_correct, renamed_answer

from grading.checks import chapter02 as checks
from grading.outcomes import Incorrect

CHAPTER, SCRIPT = "02_tflite", "convert.py"
END_OF_SCRIPT = "    sys.exit(main())\n"


def reference_function(solved_files, name: str) -> str:
    """The source of the reference function ``name`` of ``convert.py`` (to the next top-level definition)."""
    text = solved_files[f"{CHAPTER}/{SCRIPT}"]
    start = text.index(f"\ndef {name}(") + 1
    end = text.find("\n\n\n", start)
    return text[start:end] + "\n"


def answers(submission, solved_files, shared, name: str, cases: dict):
    """The submission's ``convert.py`` (in one student process, made once per module) holding every answer of
    ``cases`` ({case: edits}) to exercise ``name`` as ``<name>__<case>``, added at the end of the script."""
    if name not in shared:
        reference = reference_function(solved_files, name)
        extra = "".join("\n\n" + renamed_answer(reference, name, case, edits) for case, edits in cases.items())
        target = submission(CHAPTER, {SCRIPT: [(END_OF_SCRIPT, END_OF_SCRIPT + extra)]})
        shared[name] = target, target.module(CHAPTER, SCRIPT)
    return shared[name][1]


# ------------------------------------------------------------------------------------------------------ convert

SET_QUANTIZATION = "    set_quantization(converter, quantization)\n"
WRITE = "    tflite_path.write_bytes(converter.convert())\n"
RETURN = "    return tflite_path.stat().st_size\n"
WRITE_AND_RETURN = WRITE + RETURN

CONVERT_WRONG = {
    "always_quantized": ([(SET_QUANTIZATION,
                           SET_QUANTIZATION + "    converter.optimizations = [tf.lite.Optimize.DEFAULT]\n")],
                         r"the default conversion should keep the weights float32"),
    "always_float16": ([(SET_QUANTIZATION, "    converter.optimizations = [tf.lite.Optimize.DEFAULT]\n"
                                           "    converter.target_spec.supported_types = [tf.float16]\n")],
                       r"the default conversion should keep the weights float32"),
    "quantization_ignored": ([(SET_QUANTIZATION, "")],
                             r"quantization='dynamic'\) should write a dynamic-range quantized model"),
    "unknown_quantization_skipped": ([(SET_QUANTIZATION, "    if quantization in QUANTIZATIONS:\n"
                                                         "        set_quantization(converter, quantization)\n")],
                                     r"quantization='int4'\) should raise ValueError"),
    "size_not_returned": ([(RETURN, "")], r"should return the size of the written file in bytes .*, got None"),
    "model_bytes_returned": ([(WRITE_AND_RETURN, "    data = converter.convert()\n    tflite_path.write_bytes(data)\n"
                                                 "    return data\n")],
                             r"the file's size in bytes \(an int\), not the model's bytes"),
    "size_in_megabytes": ([(RETURN, "    return tflite_path.stat().st_size / 1e6\n")], r"\(in MB\? return bytes\)"),
    "existing_file_kept": ([(WRITE, "    if not tflite_path.exists():\n"
                                    "        tflite_path.write_bytes(converter.convert())\n")],
                           r"replacing any file there; .* still holds the old file"),
    "appended_to_an_existing_file": ([(WRITE, "    with open(tflite_path, 'ab') as f:\n"
                                              "        f.write(converter.convert())\n")],
                                     r"not a TF-Lite flatbuffer"),
    "written_next_to_tflite_path": ([(WRITE_AND_RETURN, "    out = tflite_path.with_name('model.tflite')\n"
                                                        "    out.write_bytes(converter.convert())\n"
                                                        "    return out.stat().st_size\n")],
                                    r"should write the converted model to tflite_path"),
}

CONVERT_RIGHT = {
    "file_object_and_written_count": [
        ("    model = keras.models.load_model(keras_path, compile=False)\n",
         "    model = keras.saving.load_model(str(keras_path), compile=False)\n"),
        (WRITE_AND_RETURN, "    flatbuffer = converter.convert()\n"
                           "    with open(tflite_path, 'wb') as f:\n"
                           "        return f.write(flatbuffer)\n")],
    "validated_first_and_os_path": [
        ("    model = keras.models.load_model(keras_path, compile=False)\n",
         "    import os\n\n"
         "    if quantization not in QUANTIZATIONS:\n"
         "        raise ValueError(f'unknown quantization {quantization!r}')\n"
         "    model = keras.models.load_model(keras_path, compile=False)\n"),
        (RETURN, "    return os.path.getsize(str(tflite_path))\n")],
}


@pytest.fixture
def convert_answers(submission, solved_files, shared_submissions):
    cases = {**{case: edits for case, (edits, _) in CONVERT_WRONG.items()}, **CONVERT_RIGHT}
    return answers(submission, solved_files, shared_submissions, "convert", cases)


@pytest.mark.parametrize("case", CONVERT_WRONG)
def test_convert_wrong_answer_is_incorrect(convert_answers, case):
    with pytest.raises(Incorrect, match=CONVERT_WRONG[case][1]):
        checks.check_convert(getattr(convert_answers, f"convert__{case}"))


@pytest.mark.parametrize("case", CONVERT_RIGHT)
def test_convert_right_answer_is_correct(convert_answers, case, capsys):
    graded_correct(checks.check_convert, getattr(convert_answers, f"convert__{case}"), capsys, "convert")


# ------------------------------------------------------------------------------------------------ tflite_logits

ALLOCATE = "    interpreter.allocate_tensors()\n"
OUTPUT_INDEX = '    output_index = interpreter.get_output_details()[0]["index"]\n'
LOOP = """    for row in x:
        interpreter.set_tensor(input_index, row[None])
        interpreter.invoke()
        out.append(interpreter.get_tensor(output_index)[0].copy())
"""
KEEP = "        out.append(interpreter.get_tensor(output_index)[0].copy())\n"
STACK = "    return np.stack(out)\n"

LOGITS_WRONG = {
    "view_kept_instead_of_a_copy": ([(KEEP, "        out.append(interpreter.tensor(output_index)()[0])\n")],
                                    r"keep get_tensor's copy of each row: interpreter.tensor\(index\)\(\) returns a "
                                    r"view"),
    "one_buffer_reused_for_every_row": ([("    out = []\n", "    out, row_out = [], np.empty(10, np.float32)\n"),
                                         (KEEP, "        row_out[:] = interpreter.get_tensor(output_index)[0]\n"
                                                "        out.append(row_out)\n")],
                                        r"every row is image 3's logits.*keep a copy of each row"),
    "input_set_once": ([(LOOP, "    interpreter.set_tensor(input_index, x[:1])\n"
                               "    for row in x:\n"
                               "        interpreter.invoke()\n"
                               "        out.append(interpreter.get_tensor(output_index)[0].copy())\n")],
                       r"every row is image 1's logits.*set_tensor each image before its invoke\(\)"),
    "returns_after_the_first_image": ([(KEEP, KEEP + "        return np.stack(out)\n")],
                                      r"expected logits of shape \(3, 10\), one row per image, got \(1, 10\): only "
                                      r"the first image\?"),
    "input_index_read_as_output": ([(OUTPUT_INDEX, '    output_index = interpreter.get_input_details()[0]["index"]\n')],
                                   r"expected logits of shape \(3, 10\), one row per image, got \(3, 224, 224, 3\)"),
    "list_returned": ([(STACK, "    return out\n")], r"should return a numpy array \(np.stack the rows\), got list"),
    "allocate_tensors_forgotten": ([(ALLOCATE, "")], r"call interpreter.allocate_tensors\(\) once"),
    "whole_batch_at_once": ([(LOOP, "    interpreter.set_tensor(input_index, x)\n"
                                    "    interpreter.invoke()\n"
                                    "    out = interpreter.get_tensor(output_index)\n")],
                            r"the model's input is a batch of ONE image"),
    "float64_logits": ([(STACK, "    return np.array(out, dtype=float)\n")], r"should be float32.*got float64"),
    "squeezed": ([(STACK, "    return np.stack(out).squeeze()\n")],
                 r"for 1 image\(s\) expected logits of shape \(1, 10\), one row per image, got \(10,\)"),
    "images_in_reverse": ([("    for row in x:\n", "    for row in x[::-1]:\n")], r"in the order of x"),
}

LOGITS_RIGHT = {
    "the_whole_batch_after_a_resize": [
        (ALLOCATE, ""),
        (LOOP, "    interpreter.resize_tensor_input(input_index, list(x.shape))\n"
               "    interpreter.allocate_tensors()\n"
               "    interpreter.set_tensor(input_index, np.ascontiguousarray(x, dtype=np.float32))\n"
               "    interpreter.invoke()\n"
               "    out = interpreter.get_tensor(output_index)\n"),
        (STACK, "    return out\n")],
    "a_view_copied_at_once_and_vstack": [
        (LOOP, "    for i in range(len(x)):\n"
               "        interpreter.set_tensor(input_index, x[i:i + 1])\n"
               "        interpreter.invoke()\n"
               "        out.append(interpreter.tensor(output_index)().copy())  # the view is dropped at once\n"),
        (STACK, "    return np.vstack(out)\n")],
}


@pytest.fixture
def logits_answers(submission, solved_files, shared_submissions):
    cases = {**{case: edits for case, (edits, _) in LOGITS_WRONG.items()}, **LOGITS_RIGHT}
    return answers(submission, solved_files, shared_submissions, "tflite_logits", cases)


@pytest.mark.parametrize("case", LOGITS_WRONG)
def test_tflite_logits_wrong_answer_is_incorrect(logits_answers, case):
    with pytest.raises(Incorrect, match=LOGITS_WRONG[case][1]):
        checks.check_tflite_logits(getattr(logits_answers, f"tflite_logits__{case}"))


@pytest.mark.parametrize("case", LOGITS_RIGHT)
def test_tflite_logits_right_answer_is_correct(logits_answers, case, capsys):
    graded_correct(checks.check_tflite_logits, getattr(logits_answers, f"tflite_logits__{case}"), capsys,
                   "tflite_logits")
