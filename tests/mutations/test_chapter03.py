"""Chapter 03's checks against plausible wrong answers (each graded incorrect, with a message naming the mistake) and
right answers written differently from the reference (each graded correct).

Each case is the reference handler (the solved starter of ``03_lambda_code/lambda_function.py``) with a few exact
edits, imported once per test (the TF-Lite model loads in about 0.2 s; TensorFlow is never imported).
"""

import pytest
from conftest import graded_correct

from grading.checks import chapter03 as checks
from grading.outcomes import Incorrect

CHAPTER, HANDLER = "03_lambda_code", "lambda_function.py"
IMPORTS = "import numpy as np\n"


def handler(submission, edits):
    """The submission's handler module: the reference ``lambda_function.py`` with ``edits`` applied."""
    return submission(CHAPTER, {HANDLER: edits}).module(CHAPTER, HANDLER)


# ------------------------------------------------------------------------------------------------------- softmax

SOFTMAX = ("    z = logits.astype(np.float64) - logits.max()\n"
           "    e = np.exp(z)\n"
           "    return e / e.sum()\n")


def softmax_as(body: str):
    return [(SOFTMAX, body)]


SOFTMAX_WRONG = {
    "no_max_shift": (softmax_as("    e = np.exp(logits.astype(np.float64))\n    return e / e.sum()\n"),
                     "subtract the largest logit before exp"),
    "shift_by_the_smallest_logit": (
        softmax_as("    e = np.exp(logits.astype(np.float64) - logits.min())\n    return e / e.sum()\n"),
        "subtract the LARGEST logit"),
    "shift_by_the_mean": (
        softmax_as("    e = np.exp(logits.astype(np.float64) - logits.mean())\n    return e / e.sum()\n"),
        "subtract the LARGEST logit"),
    "computed_in_float32": (softmax_as("    e = np.exp(logits - logits.max())\n    return e / e.sum()\n"),
                            "compute in float64"),
    "float32_after_the_shift": (
        softmax_as("    e = np.exp((logits - logits.max()).astype(np.float32))\n    return e / e.sum()\n"),
        "compute in float64"),
    "clipped_logits_instead_of_shifted": (
        softmax_as("    e = np.exp(np.clip(logits.astype(np.float64), -500, 500))\n    return e / e.sum()\n"),
        "do not clip or rescale"),
    "max_over_axis_1_of_a_batch": (
        softmax_as("    e = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))\n"
                   "    return e / e.sum(axis=1, keepdims=True)\n"),
        "raised AxisError.*no batch axis"),
    "returns_a_batch_of_one": ([(SOFTMAX, SOFTMAX.replace("return e / e.sum()", "return (e / e.sum())[None]"))],
                               r"should keep the shape of the logits, \(3,\); got shape \(1, 3\)"),
    "divided_by_the_largest_term": (softmax_as("    e = np.exp(logits.astype(np.float64) - logits.max())\n"
                                               "    return e / e.max()\n"),
                                    r"softmax\(\[1, 2, 3\]\) gave"),
    "log_softmax": (softmax_as("    z = logits.astype(np.float64) - logits.max()\n"
                               "    return z - np.log(np.exp(z).sum())\n"),
                    r"softmax\(\[1, 2, 3\]\) gave"),
}


@pytest.mark.parametrize("edits, message", SOFTMAX_WRONG.values(), ids=SOFTMAX_WRONG.keys())
def test_softmax_wrong_answer_is_incorrect(submission, edits, message):
    with pytest.raises(Incorrect, match=message):
        checks.check_softmax(handler(submission, edits).softmax)


SOFTMAX_RIGHT = {
    "scipy_in_float64": softmax_as("    from scipy.special import softmax as scipy_softmax\n\n"
                                   "    return scipy_softmax(np.asarray(logits, dtype=np.float64))\n"),
    "log_sum_exp": softmax_as("    z = np.asarray(logits, dtype=float)\n    z = z - np.max(z)\n"
                              "    return np.exp(z - np.log(np.sum(np.exp(z))))\n"),
    "last_axis_keepdims": softmax_as(
        "    e = np.exp(logits.astype(np.float64) - np.max(logits, axis=-1, keepdims=True))\n"
        "    return e / np.sum(e, axis=-1, keepdims=True)\n"),
}


@pytest.mark.parametrize("edits", SOFTMAX_RIGHT.values(), ids=SOFTMAX_RIGHT.keys())
def test_softmax_right_answer_is_correct(submission, capsys, edits):
    graded_correct(checks.check_softmax, handler(submission, edits).softmax, capsys, "softmax")


# ------------------------------------------------------------------------------------------------------- predict

DOWNLOAD = "    return _classify(download_image(url))\n"  # predict's block; _classify's block holds the rest
CONVERT = "    x = preprocessor.convert_to_tensor(image)  # float32 (1, height, width, 3), in [-1, 1]\n"
ANSWER = ('        "probability": float(probabilities[best]),\n'
          '        "probabilities": {name: float(p) for name, p in zip(CLASSES, probabilities)},\n')
URLOPEN = (IMPORTS, IMPORTS + "import io\nimport urllib.request\nfrom PIL import Image\n")


def download_with(line: str, *more):
    return [*more, (DOWNLOAD, line)]


PREDICT_WRONG = {
    "urlopen": (download_with("    with urllib.request.urlopen(url, timeout=10) as response:\n"
                              "        return _classify(Image.open(io.BytesIO(response.read())))\n",
                              URLOPEN),
                "fetched a private address"),
    "requests": (download_with("    return _classify(Image.open(io.BytesIO(requests.get(url, "
                               "timeout=10).content)))\n",
                               (IMPORTS, IMPORTS + "import io\nimport requests\nfrom PIL import Image\n")),
                 "fetched a private address"),
    "keras_image_helper_download_image": (
        download_with("    from keras_image_helper.base import download_image as fetch_image\n\n"
                      "    return _classify(fetch_image(url))\n"),
        "fetched a private address"),
    "urlopen_after_validate_url": (
        download_with("    with urllib.request.urlopen(safe_download.validate_url(url), timeout=10) as response:\n"
                      "        return _classify(Image.open(io.BytesIO(response.read())))\n", URLOPEN),
        "fetched a private address"),
    "loopback_block_list_then_urlopen": (
        download_with("    if not url.startswith((\"http://\", \"https://\")):\n"
                      "        raise RequestError(400, \"invalid_url\", \"only http and https URLs\")\n"
                      "    host = url.split(\"/\")[2].split(\":\")[0]\n"
                      "    local_use = os.environ.get(\"ALLOW_PRIVATE_URLS\") == \"1\"\n"
                      "    if host in (\"localhost\", \"127.0.0.1\") and not local_use:\n"
                      "        raise RequestError(422, \"destination_refused\", \"no loopback\")\n"
                      "    with urllib.request.urlopen(url, timeout=2) as response:\n"
                      "        return _classify(Image.open(io.BytesIO(response.read())))\n", URLOPEN),
        "tried to connect to the instance-metadata address"),
    "swallows_the_download_error": (
        download_with("    try:\n        image = download_image(url)\n    except RequestError as e:\n"
                      "        return {\"error\": {\"status\": e.status, \"code\": e.code, \"message\": e.message}}\n"
                      "    return _classify(image)\n"),
        "predict raises the RequestError of download_image"),
    "numpy_float32": ([(ANSWER, '        "probability": np.float32(probabilities[best]),\n'
                                '        "probabilities": dict(zip(CLASSES, probabilities.astype(np.float32))),\n')],
                      "JSON-serialisable.*float32"),
    "numpy_float64": ([(ANSWER, '        "probability": probabilities[best],\n'
                                '        "probabilities": dict(zip(CLASSES, probabilities)),\n')],
                      "plain Python floats, got numpy.float64"),
    "sorted_by_probability": (
        [(ANSWER, '        "probability": float(probabilities[best]),\n'
                  '        "probabilities": dict(sorted(zip(CLASSES, map(float, probabilities)),\n'
                  '                                     key=lambda kv: -kv[1])),\n')],
        "labels.txt order"),
    "top_class_from_argmin": (
        [("    best = int(probabilities.argmax())\n", "    best = int(probabilities.argmin())\n")], "not the argmin"),
    "probability_of_the_first_class": (
        [(ANSWER, ANSWER.replace("float(probabilities[best])", "float(probabilities[0])"))],
        "probability should be top_class's probability"),
    "logits_without_softmax": (
        [("    probabilities = softmax(interpreter.get_tensor(OUTPUT_INDEX)[0])\n",
          "    probabilities = interpreter.get_tensor(OUTPUT_INDEX)[0].astype(np.float64)\n")],
        r"must be in \[0, 1\]|sum to 1"),
    "raw_pixels_without_the_xception_scaling": (
        [(CONVERT, "    image = image.convert(\"RGB\").resize((int(INPUT_WIDTH), int(INPUT_HEIGHT)))\n"
                   "    x = np.asarray(image, dtype=np.float32)[np.newaxis]\n")],
        "preprocess with"),
    "pixels_scaled_to_0_1": (
        [(CONVERT, "    image = image.convert(\"RGB\").resize((int(INPUT_WIDTH), int(INPUT_HEIGHT)))\n"
                   "    x = np.asarray(image, dtype=np.float32)[np.newaxis] / 255\n")],
        "preprocess with"),
}


@pytest.mark.parametrize("edits, message", PREDICT_WRONG.values(), ids=PREDICT_WRONG.keys())
def test_predict_wrong_answer_is_incorrect(submission, edits, message):
    with pytest.raises(Incorrect, match=message):
        checks.check_predict(handler(submission, edits))


PREDICT_BODY = (CONVERT
                + "    interpreter.set_tensor(INPUT_INDEX, np.asarray(x, dtype=np.float32))  # no copy: it is float32 "
                  "already\n"
                + "    interpreter.invoke()\n"
                + "    probabilities = softmax(interpreter.get_tensor(OUTPUT_INDEX)[0])\n"
                + "    best = int(probabilities.argmax())\n"
                + "    return {\n"
                + '        "top_class": CLASSES[best],\n'
                + ANSWER
                + "    }\n")
PREDICT_RIGHT = {
    "tolist_and_max_by_value": [(PREDICT_BODY, (
        "    interpreter.set_tensor(INPUT_INDEX, preprocessor.convert_to_tensor(image))\n"
        "    interpreter.invoke()\n"
        "    logits = interpreter.get_tensor(OUTPUT_INDEX)\n"
        "    probabilities = dict(zip(CLASSES, softmax(logits[0]).tolist()))\n"
        "    top_class = max(probabilities, key=probabilities.get)\n"
        "    return {\"top_class\": top_class, \"probability\": probabilities[top_class], "
        "\"probabilities\": probabilities}\n"))],
    "explicit_rgb_and_numpy_argmax": [(PREDICT_BODY, (
        "    image = image.convert(\"RGB\")\n"
        "    interpreter.set_tensor(INPUT_INDEX, preprocessor.convert_to_tensor(image).astype(np.float32))\n"
        "    interpreter.invoke()\n"
        "    p = softmax(interpreter.get_tensor(OUTPUT_INDEX)[0])\n"
        "    i = np.argmax(p)\n"
        "    answer = {\"top_class\": str(CLASSES[i]), \"probability\": float(p[i])}\n"
        "    answer[\"probabilities\"] = {CLASSES[k]: float(p[k]) for k in range(len(CLASSES))}\n"
        "    return answer\n"))],
    "classified_inline_without_the_shared_function": [(DOWNLOAD, (
        "    image = download_image(url)\n"
        "    interpreter.set_tensor(INPUT_INDEX, preprocessor.convert_to_tensor(image))\n"
        "    interpreter.invoke()\n"
        "    p = softmax(interpreter.get_tensor(OUTPUT_INDEX)[0])\n"
        "    return {\"top_class\": CLASSES[int(p.argmax())], \"probability\": float(p.max()),\n"
        "            \"probabilities\": {c: float(v) for c, v in zip(CLASSES, p)}}\n"))],
}


@pytest.mark.parametrize("edits", PREDICT_RIGHT.values(), ids=PREDICT_RIGHT.keys())
def test_predict_right_answer_is_correct(submission, capsys, edits):
    graded_correct(checks.check_predict, handler(submission, edits), capsys, "predict")


# ---------------------------------------------------------------------------------------------- parse_proxy_body

DECODE = ('        if event.get("isBase64Encoded") is True:\n'
          '            body = base64.b64decode(body, validate=True).decode("utf-8")\n')
CATCH = ("    except (binascii.Error, ValueError, RecursionError):  "
         "# UnicodeDecodeError and JSONDecodeError are ValueErrors\n")
NO_BODY = ("    if not body or not isinstance(body, str):\n"
           "        raise RequestError(400, \"invalid_json\", 'the request body must be JSON like {\"url\": \"https://...\"}')\n")
NOT_OBJECT = ("    if not isinstance(payload, dict):\n"
              "        raise RequestError(400, \"invalid_json\", 'the request body must be a JSON object like "
              "{\"url\": \"https://...\"}')\n")

PARSE_WRONG = {
    "ignores_isBase64Encoded": ([(DECODE, "")], "base64-decode the body first"),
    "isBase64Encoded_compared_to_the_string_true": (
        [(DECODE, DECODE.replace('event.get("isBase64Encoded") is True', 'event.get("isBase64Encoded") == "true"'))],
        "base64-decode the body first"),
    "decodes_whenever_the_key_is_there": (
        [(DECODE, DECODE.replace('event.get("isBase64Encoded") is True', '"isBase64Encoded" in event'))],
        r"a payload 2\.0 JSON body.*should give"),
    "lets_binascii_errors_escape": (
        [("    try:\n" + DECODE, '    if event.get("isBase64Encoded") is True:\n'
                                 '        body = base64.b64decode(body, validate=True).decode("utf-8")\n'
                                 "    try:\n")],
        "not valid base64: parse_proxy_body raised Error"),
    "lets_json_errors_escape": ([("        payload = json.loads(body)\n", ""),
                                 (NOT_OBJECT, "    payload = json.loads(body)\n" + NOT_OBJECT)],
                                "not valid JSON: parse_proxy_body raised JSONDecodeError"),
    "catches_only_json_and_base64_errors": ([(CATCH, "    except (binascii.Error, json.JSONDecodeError):\n")],
                                            "not UTF-8: parse_proxy_body raised"),
    "decodes_with_errors_replace": ([(DECODE, DECODE.replace('decode("utf-8")', 'decode("utf-8", errors="replace")'))],
                                    "not UTF-8 .*returned"),
    "decodes_as_latin_1": ([(DECODE, DECODE.replace('decode("utf-8")', 'decode("latin-1")'))],
                           "decode the base64-decoded bytes as UTF-8"),
    "accepts_a_json_list": ([(NOT_OBJECT, "")], "a JSON list .*returned"),
    "no_check_for_a_missing_body": ([(NO_BODY, "")], r"no body \(None\): parse_proxy_body raised TypeError"),
    "422_for_a_body_that_is_not_an_object": ([(NOT_OBJECT, NOT_OBJECT.replace("400", "422"))],
                                             "expected RequestError 400 invalid_json, got 422 invalid_json"),
    "bad_request_code": ([(CATCH + '        raise RequestError(400, "invalid_json"',
                           CATCH + '        raise RequestError(400, "bad_request"')],
                         "expected RequestError 400 invalid_json, got 400 bad_request"),
    "returns_an_empty_dict_on_bad_json": (
        [(CATCH + '        raise RequestError(400, "invalid_json", "the request body is not valid JSON") from None\n',
          CATCH + "        return {}\n")],
        "returned {}"),
}


@pytest.mark.parametrize("edits, message", PARSE_WRONG.values(), ids=PARSE_WRONG.keys())
def test_parse_proxy_body_wrong_answer_is_incorrect(submission, edits, message):
    with pytest.raises(Incorrect, match=message):
        checks.check_parse_proxy_body(handler(submission, edits))


PARSE_BODY = ('    body = event.get("body")\n' + NO_BODY + "    try:\n" + DECODE
              + "        payload = json.loads(body)\n" + CATCH)
PARSE_RIGHT = {
    "json_loads_of_bytes_and_b64decode_without_validate": [(PARSE_BODY, (
        '    body = event.get("body")\n'
        "    if not isinstance(body, str) or body == \"\":\n"
        "        raise RequestError(400, \"invalid_json\", \"no body\")\n"
        "    try:\n"
        "        payload = json.loads(base64.b64decode(body) if event.get(\"isBase64Encoded\") else body)\n"
        "    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError alike\n"))],
    "one_broad_except": [(PARSE_BODY, (
        '    body = event.get("body")\n'
        "    try:\n"
        "        if event.get(\"isBase64Encoded\"):\n"
        "            body = base64.b64decode(body).decode()\n"
        "        payload = json.loads(body)\n"
        "    except Exception:\n"))],
}


@pytest.mark.parametrize("edits", PARSE_RIGHT.values(), ids=PARSE_RIGHT.keys())
def test_parse_proxy_body_right_answer_is_correct(submission, capsys, edits):
    graded_correct(checks.check_parse_proxy_body, handler(submission, edits), capsys, "parse_proxy_body")


# ------------------------------------------------------------------------------------------------ lambda_handler

RETURN = ('    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, '
          '"body": json.dumps(result)}\n')
TRY = """        try:
            if proxy and is_upload(event):
                status, result = 200, predict_bytes(upload_body(event))
            else:
                if proxy:
                    payload = parse_proxy_body(event)
                elif isinstance(event, dict):
                    payload = event
                else:
                    raise RequestError(400, "invalid_json", 'the event must be a JSON object like {"url": "https://..."}')
                status, result = 200, predict_request(payload)
        except RequestError as e:
            status, result = e.status, error_answer(e.status, e.code, e.message)
        except Exception:
            logger.exception("internal error")  # the stack trace goes to the log only
            status, result = 500, error_answer(500, "internal_error", "internal error")
"""
REQUEST_ERROR = """        except RequestError as e:
            status, result = e.status, error_answer(e.status, e.code, e.message)
"""


def returns(line: str):
    return [(RETURN, line)]


HANDLER_WRONG = {
    "body_as_a_dict": (returns('    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, '
                               '"body": result}\n'),
                       "the body must be a string"),
    "body_as_python_repr": (returns('    return {"statusCode": status, '
                                    '"headers": {"Content-Type": "application/json"}, "body": str(result)}\n'),
                            "the body must be JSON text"),
    "no_headers": (returns('    return {"statusCode": status, "body": json.dumps(result)}\n'), "missing headers"),
    "text_plain_content_type": (returns('    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, '
                                        '"body": json.dumps(result)}\n'),
                                "set the Content-Type header to application/json"),
    "status_200_on_errors": (returns('    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, '
                                     '"body": json.dumps(result)}\n'),
                             "expected statusCode 400 .*got 200"),
    "400_for_every_error": (returns('    return {"statusCode": 200 if status == 200 else 400, '
                                    '"headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}\n'),
                            "expected statusCode 422 .*got 400"),
    "status_code_as_a_string": (returns('    return {"statusCode": str(status), "headers": {"Content-Type": '
                                        '"application/json"}, "body": json.dumps(result)}\n'),
                                "statusCode must be an int"),
    "proxy_shape_for_direct_invocations": ([("    if not proxy:\n        return result\n", "")],
                                           "a direct invocation answers the prediction itself"),
    "catches_nothing": ([(TRY, """        if proxy:
            payload = parse_proxy_body(event)
        else:
            payload = event
        status, result = 200, predict(payload.get("url"))
""")], "let RequestError 400 missing_url escape"),
    "every_error_a_500": ([(REQUEST_ERROR, "")], "expected statusCode 400 .*got 500"),
    "response_template_reused_across_requests": (
        [("logger = logging.getLogger(__name__)\n",
          "logger = logging.getLogger(__name__)\n"
          'RESPONSE = {"statusCode": 200, "headers": {"Content-Type": "application/json"}}  # built once\n'),
         (RETURN, "    response = RESPONSE\n    if status != 200:\n        response[\"statusCode\"] = status\n"
                  "    response[\"body\"] = json.dumps(result)\n    return response\n")],
        "keep no state from one request to the next"),
}


@pytest.mark.parametrize("edits, message", HANDLER_WRONG.values(), ids=HANDLER_WRONG.keys())
def test_lambda_handler_wrong_answer_is_incorrect(submission, edits, message):
    with pytest.raises(Incorrect, match=message):
        checks.check_lambda_handler(handler(submission, edits))


HANDLER_RIGHT = {
    "lower_case_header_with_charset_and_extras": returns(
        '    return {"statusCode": int(status), "isBase64Encoded": False,\n'
        '            "headers": {"content-type": "application/json; charset=utf-8", "Cache-Control": "no-store"},\n'
        '            "body": json.dumps(result, ensure_ascii=False)}\n'),
    "dict_call_and_indented_json": returns(
        '    headers = {"Content-Type": "application/json"}\n'
        "    return dict(statusCode=status, headers=headers, body=json.dumps(result, indent=2))\n"),
}


@pytest.mark.parametrize("edits", HANDLER_RIGHT.values(), ids=HANDLER_RIGHT.keys())
def test_lambda_handler_right_answer_is_correct(submission, capsys, edits):
    graded_correct(checks.check_lambda_handler, handler(submission, edits), capsys, "lambda_handler")
