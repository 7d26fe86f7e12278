import numpy as np

from services.fraud.explain import FACTORS
from services.fraud.features import FEATURE_INDEX as F
from services.fraud.features import FEATURE_NAMES
from tests.unit.fraud.builders import T0, tx


def _factor(code: str):  # type: ignore[no-untyped-def]
    return next(factor for factor in FACTORS if factor.code == code)


def test_earlier_large_payments_are_a_reason_and_switch_off_to_a_usual_card() -> None:
    factor = _factor("CARD_LARGE_PAYMENTS")
    row = np.zeros(len(FEATURE_NAMES))
    assert not factor.applies(row, {})
    row[F["customer_large_payments_14d"]] = 2
    row[F["customer_max_surprise_14d"]] = 5.5
    assert factor.applies(row, {})
    assert factor.text(row, tx("a", T0)) == "after 2 other unusually large payments on your card in the last 14 days"
    factor.neutralize(row)
    assert (row[F["customer_large_payments_14d"]], row[F["customer_max_surprise_14d"]]) == (0.0, 1.0)
    row[F["customer_large_payments_14d"]] = 1
    assert factor.text(row, tx("a", T0)).startswith("after another unusually large payment")
