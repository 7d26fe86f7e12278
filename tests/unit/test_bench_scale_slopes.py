"""`bench scale`'s memory figures: the slope per customer between the two largest banks, extrapolated from the
largest; the slope from the smallest (caches still filling) beside it."""

import pytest

from tests.perf.bench_scale import SERVICES, memory_slopes


def test_the_slope_is_the_two_largest_banks_and_the_first_one_is_reported_beside() -> None:
    figures = {f"{s}_rss_mb_{n}": mb for s in SERVICES for n, mb in ((1_000, 398.0), (10_000, 418.5), (30_000, 428.6))}
    out = memory_slopes(figures, (1_000, 10_000, 30_000))
    assert out["fraud_rss_kb_per_customer"] == pytest.approx(10.1 * 1024 / 20_000, abs=0.01)
    assert out["fraud_rss_mb_100000_extrapolated"] == pytest.approx(428.6 + 10.1 * 70_000 / 20_000, abs=0.1)
    assert out["fraud_rss_kb_per_customer_1000_10000"] == pytest.approx(20.5 * 1024 / 9_000, abs=0.01)


def test_two_banks_give_the_one_slope() -> None:
    figures = {f"{s}_rss_mb_{n}": mb for s in SERVICES for n, mb in ((1_000, 100.0), (10_000, 109.0))}
    out = memory_slopes(figures, (1_000, 10_000))
    assert out["notify_rss_kb_per_customer"] == pytest.approx(1.02, abs=0.01)
    assert out["notify_rss_mb_100000_extrapolated"] == pytest.approx(199.0, abs=0.1)
    assert not any(k.endswith("_1000_10000") for k in out)
