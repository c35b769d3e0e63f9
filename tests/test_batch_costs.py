"""Issue 17 (chapter 07): the time and dollars of batch predictions three ways (solutions/07_production/
batch_costs.py, ``make batch-costs``), checked against figures worked by hand below, and against its inputs: the
measured handler row of benchmarks/results.json, the batch settings of batch_aws.py and each named price.

The hand-worked case: the handler takes 10 ms a photo on one core, the function has 2,048 MB (over 1,769 MB: a full
vCPU, no scaling), fetching a photo takes 40 ms, so a photo costs 50 ms in Lambda; 10 photos an invocation, 5 at once.
"""

import json

import batch_aws
import batch_costs
import pytest

from tutorial_support import prices

WARM_MS, MEMORY_MB, FETCH_MS = 10.0, 2048, 40.0
ITEM_MS = 50.0  # 10 x max(1, 1,769 / 2,048) + 40


def standard(images=10_000, **kwargs):
    return batch_costs.distributed_map(images, ITEM_MS, MEMORY_MB, "STANDARD", 10, 5, **kwargs)


def test_a_photo_in_lambda_costs_its_measured_time_scaled_by_the_vcpu_share_plus_its_fetch():
    assert batch_costs.lambda_item_ms(WARM_MS, MEMORY_MB, FETCH_MS) == ITEM_MS
    # at 1,024 MB: 1,024 / 1,769 of a vCPU, so 10 x 1,769 / 1,024 = 17.275390625 ms, + 40
    assert batch_costs.lambda_item_ms(WARM_MS, 1024, FETCH_MS) == pytest.approx(57.275390625)


def test_lambda_and_a_distributed_map_with_standard_children():
    row = standard()
    # 10,000 photos / 10 = 1,000 invocations of 500 ms at 2 GB: 1,000 GB-s x $0.0000166667 = $0.0166667,
    # + 1,000 requests x $0.20 / 10^6 = $0.0002: Lambda $0.0168667
    assert row["invocations"] == 1_000
    assert row["parts"]["lambda"] == pytest.approx(0.0168667)
    # 1 (the Map) + 1,000 children x (1 to start it + 1 for its Classify state) = 2,001 transitions x $0.000025
    assert row["parts"]["step functions"] == pytest.approx(0.050025)
    assert row["dollars"] == pytest.approx(0.0668917)
    # 1,000 batches, 5 at once: 200 waves of 0.5 s = 100 s
    assert row["hours"] * 3600 == pytest.approx(100)


def test_express_children_pay_a_request_and_their_duration_instead_of_their_states():
    row = batch_costs.distributed_map(10_000, ITEM_MS, MEMORY_MB, "EXPRESS", 10, 5)
    # 1,001 transitions x $0.000025 = $0.025025; 1,000 requests x $1 / 10^6 = $0.001;
    # 1,000 x 0.5 s (500 ms, already a multiple of 100 ms) x 64 / 1,024 GB = 31.25 GB-s x $0.00001667 = $0.00052094
    assert row["parts"]["step functions"] == pytest.approx(0.025025 + 0.001 + 0.0005209375)
    assert row["parts"]["lambda"] == pytest.approx(0.0168667)
    with pytest.raises(ValueError):
        batch_costs.distributed_map(10, ITEM_MS, MEMORY_MB, "SYNC", 10, 5)


def test_a_last_partial_batch_is_billed_for_its_own_photos():
    row = batch_costs.distributed_map(25, ITEM_MS, MEMORY_MB, "STANDARD", 10, 5)
    # 3 invocations: 2 of 500 ms and 1 of 250 ms at 2 GB = 2.5 GB-s, + 3 requests
    assert row["invocations"] == 3
    assert row["parts"]["lambda"] == pytest.approx(2.5 * 0.0000166667 + 3 * 0.2e-6)


def test_s3_batch_operations_pay_per_job_and_per_object_and_invoke_once_per_photo():
    row = batch_costs.s3_batch_operations(10_000, ITEM_MS, MEMORY_MB, 5)
    # Lambda: 10,000 x 0.05 s x 2 GB = 1,000 GB-s = $0.0166667, + 10,000 x $0.20 / 10^6 = $0.002
    assert row["invocations"] == 10_000
    assert row["parts"]["lambda"] == pytest.approx(0.0186667)
    # $0.25 for the job + 10,000 x $1.00 / 10^6
    assert row["parts"]["s3 batch operations"] == pytest.approx(0.26)
    assert row["dollars"] == pytest.approx(0.2786667)
    # 60 s to start + 10,000 / 5 = 2,000 waves of 0.05 s
    assert row["hours"] * 3600 == pytest.approx(160)


def test_sagemaker_batch_transform_bills_the_start_up_and_the_work():
    row = batch_costs.batch_transform(10_000_000, WARM_MS)
    # 4 vCPUs x 1,000 / 10 ms = 400 photos a second: 25,000 s, + 5 min = 25,300 s x $0.23 / 3,600 = $1.6163889
    assert row["hours"] * 3600 == pytest.approx(25_300)
    assert row["dollars"] == pytest.approx(1.6163889)
    assert batch_costs.batch_transform(10_000_000, WARM_MS, instances=2)["hours"] * 3600 == pytest.approx(12_800)


@pytest.mark.parametrize("constant, value, option, moved_by", [
    ("STATE_TRANSITION_PRICE", 0.05 / 1000, "standard", 0.050025),  # 2,001 more x $0.000025
    ("S3_BATCH_PRICE_PER_JOB", 0.50, "s3", 0.25),
    ("S3_BATCH_PRICE_PER_OBJECT", 2.00 / 1e6, "s3", 0.01),
    ("SAGEMAKER_PRICE_PER_HOUR", 0.46, "sagemaker", 1.6163889),
    ("SAGEMAKER_STARTUP_MIN", 10.0, "sagemaker", 300 * 0.23 / 3600),
])
def test_a_changed_price_moves_the_answer(monkeypatch, constant, value, option, moved_by):
    def dollars():
        return {"standard": lambda: standard()["dollars"],
                "s3": lambda: batch_costs.s3_batch_operations(10_000, ITEM_MS, MEMORY_MB, 5)["dollars"],
                "sagemaker": lambda: batch_costs.batch_transform(10_000_000, WARM_MS)["dollars"]}[option]()

    before = dollars()
    monkeypatch.setattr(batch_costs, constant, value)
    assert dollars() - before == pytest.approx(moved_by)


def test_lambdas_price_comes_from_tutorial_support_prices(monkeypatch):
    before = standard()["parts"]["lambda"]
    monkeypatch.setitem(prices.PRICE_PER_GB_SECOND, "x86_64", 2 * prices.PRICE_PER_GB_SECOND["x86_64"])
    assert standard()["parts"]["lambda"] - before == pytest.approx(0.0166667)  # the 1,000 GB-s once more


def test_the_batch_size_and_concurrency_are_batch_aws_s(monkeypatch):
    item_ms = batch_costs.lambda_item_ms(WARM_MS, MEMORY_MB, FETCH_MS)
    assert batch_costs.distributed_map(10_000, item_ms, MEMORY_MB)["invocations"] == 10_000 // batch_aws.ITEMS_PER_BATCH
    monkeypatch.setattr(batch_aws, "ITEMS_PER_BATCH", 20)
    monkeypatch.setattr(batch_aws, "MAX_CONCURRENCY", 50)
    row = batch_costs.distributed_map(10_000, item_ms, MEMORY_MB)
    assert row["invocations"] == 500
    assert row["hours"] * 3600 == pytest.approx(10 * 20 * ITEM_MS / 1000)  # 500 batches / 50 = 10 waves of 1 s


def test_the_table_reads_the_measured_handler_row(tmp_path):
    measured = json.loads(batch_costs.BENCHMARK_RESULTS.read_text())["variants"][batch_costs.HANDLER_ROW]
    assert batch_costs.handler_warm_ms() == measured["warm_p50_ms"]["median"]
    rows = batch_costs.table()
    assert [r["images"] for r in rows] == [10_000] * 4 + [10_000_000] * 4
    assert rows == batch_costs.table(warm_ms=measured["warm_p50_ms"]["median"])
    assert rows != batch_costs.table(warm_ms=2 * measured["warm_p50_ms"]["median"])
    other = tmp_path / "results.json"
    other.write_text(json.dumps({"variants": {batch_costs.HANDLER_ROW: {"warm_p50_ms": {"median": 12.5}}}}))
    assert batch_costs.handler_warm_ms(other) == 12.5


def test_without_measurements_make_batch_costs_says_to_run_make_bench(tmp_path, capsys):
    assert batch_costs.main(["--results", str(tmp_path / "missing.json")]) == 1
    assert "make bench" in capsys.readouterr().err
    (tmp_path / "empty.json").write_text(json.dumps({"variants": {}}))
    assert batch_costs.main(["--results", str(tmp_path / "empty.json")]) == 1
    assert "make bench" in capsys.readouterr().err
    assert batch_costs.main([]) == 0
    out = capsys.readouterr().out
    sizes = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| 10,")]
    assert sizes == ["10,000"] * 4 + ["10,000,000"] * 4
