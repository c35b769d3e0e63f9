"""Example of a mutation test (replaced by the chapter's own file)."""

import pytest

from grading.checks import chapter03 as checks
from grading.outcomes import Incorrect


def test_softmax_without_the_max_shift_is_incorrect(submission):
    target = submission("03_lambda_code", {"lambda_function.py": [
        ("    z = logits.astype(np.float64) - logits.max()\n", "    z = logits.astype(np.float64)\n")]})
    with pytest.raises(Incorrect, match="subtract the largest logit"):
        checks.check_softmax(target.module("03_lambda_code", "lambda_function.py").softmax)
