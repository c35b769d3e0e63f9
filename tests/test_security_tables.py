"""``make security-tables`` (``solutions/06_api_gateway/security_tables.py``): the README's tables of who can call the
endpoint and of the worst bill a flood can run up, rendered from the code, and the flood-cost model."""

import pytest
import security_tables
from api import DEFAULT_RATE
from conftest import REPO_ROOT

from tutorial_support import deployment, prices


def readme_block(marker: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split(f"<!-- {marker}:begin -->\n")[1].split(f"<!-- {marker}:end -->")[0]


def test_the_readme_security_tables_are_what_security_tables_py_renders_now():
    assert readme_block("auth-modes") == security_tables.render_auth_modes()
    assert readme_block("flood-cost") == security_tables.render_flood_cost()
    readme = (REPO_ROOT / "README.md").read_text()
    security = readme.index("\n## Security\n")
    assert readme.index("\n## Deploy to your AWS account\n") < security < readme.index("<!-- flood-cost:begin -->")
    assert readme.index("\n## ", security + 1) == readme.index("\n## The model\n")  # right after the deploy section


def test_flood_cost_follows_its_inputs():
    cost = security_tables.flood_cost()
    month, day = cost["month"], cost["day"]
    seconds = security_tables.DAYS_A_MONTH * 86_400
    assert month["api_requests"] == month["lambda_requests"] == DEFAULT_RATE * seconds
    assert month["api"] == pytest.approx(DEFAULT_RATE * seconds / 1e6 * prices.HTTP_API_PRICE_PER_MILLION)
    busy = min(deployment.DEFAULT_MAX_CONCURRENCY, DEFAULT_RATE * deployment.DEFAULT_TIMEOUT_S)
    assert month["gb_seconds"] == pytest.approx(busy * deployment.DEFAULT_MEMORY_MB / 1024 * seconds)
    assert set(month["compute"]) == {"x86_64", "arm64"} and month["compute"]["arm64"] < month["compute"]["x86_64"]
    for arch in month["total"]:
        assert month["total"][arch] == pytest.approx(month["api"] + month["lambda_requests_cost"]
                                                     + month["compute"][arch])
        assert day["total"][arch] == pytest.approx(month["total"][arch] / security_tables.DAYS_A_MONTH)
    # twice the memory doubles the compute; a 1 s timeout at 2 requests a second keeps only 2 copies busy
    assert security_tables.flood_cost(memory_mb=2048)["month"]["compute"]["x86_64"] == pytest.approx(
        2 * month["compute"]["x86_64"])
    slow = security_tables.flood_cost(rate=2, timeout_s=1, max_concurrency=5)["month"]
    assert slow["gb_seconds"] == pytest.approx(2 * deployment.DEFAULT_MEMORY_MB / 1024 * seconds)
    with pytest.raises(ValueError, match="positive"):
        security_tables.flood_cost(rate=0)

