"""`report.html`: the backtest's figures for a person, with plots drawn by matplotlib and embedded as PNGs (one
file, no external assets), and, with `--compare`, another run's figures side by side."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from services.backtest.report import Series

# (section, key, what it means) of the figures shown side by side
HEADLINE = (
    ("shortfall", "overdraft_recall_24h", "overdrafts warned at least 24 h ahead"),
    ("shortfall", "shortfall_precision", "shortfall warnings followed by an overdraft within 7 days"),
    ("shortfall", "median_lead_hours", "median warning lead (hours)"),
    ("care", "care_recall_3d", "first missed mortgage payments offered care at least 3 days ahead"),
    ("care", "false_offer_rate", "healthy mortgage holders offered care"),
    ("fraud", "alerts_per_1000_genuine_card_payments", "fraud alerts per 1,000 genuine card payments"),
    ("fraud", "cards_alerted_by_2nd_fraud", "compromised cards alerted by their 2nd fraud"),
    ("fraud", "fraud_recall", "fraudulent payments alerted"),
    ("fraud", "average_precision", "fraud model: average precision"),
    ("fraud", "auc", "fraud model: AUC"),
    ("notifications", "per_customer_per_week", "notifications per customer per week"),
    ("notifications", "held_quiet_hours_share", "notifications held by quiet hours"),
    ("notifications", "dropped_by_caps_share", "notifications dropped by caps"),
)


def render(report: dict[str, Any], series: Series, other: dict[str, Any] | None = None,
           other_name: str = "") -> str:
    rows = []
    for section, key, meaning in HEADLINE:
        cells = [_value(report, section, key)] + ([_value(other, section, key)] if other is not None else [])
        rows.append(f"<tr><th scope='row'>{html.escape(meaning)}</th>"
                    + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "<th>this run</th>" + (f"<th>{html.escape(other_name)}</th>" if other is not None else "")
    plots = "".join(f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
                    f"<figcaption>{html.escape(title)}</figcaption></figure>" for title, png in _plots(series))
    inputs = report["input"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>proactive-care backtest</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}
figure{{display:inline-block;margin:1rem}}img{{max-width:28rem}}</style></head>
<body><h1>Backtest</h1>
<p>{inputs['transactions']:,} transactions of {inputs['customers']:,} customers over {inputs['weeks']} weeks;
{inputs['bad_rows']:,} bad rows skipped (bad_rows.txt); replayed {html.escape(report['replayed'])}.
"not measured" means the history cannot show it.</p>
<table><thead><tr><th>figure</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
{plots}
</body></html>
"""


def _value(report: dict[str, Any], section: str, key: str) -> str:
    part = report.get(section, {})
    if "not_measured" in part:
        return f"not measured: {part['not_measured']}"
    value = part.get(key)
    return "not measured" if value is None else str(value)


def _plots(series: Series) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out = []
    if series.lead_hours:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(series.lead_hours, bins=24, range=(24, 168), color="#2b6cb0")
        ax.set(xlabel="hours from the warning to the overdraft", ylabel="overdrafts")
        out.append(("Shortfall warnings: lead time", _png(fig, plt)))
    recall, precision = series.precision_recall
    if recall:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(recall, precision, color="#c53030")
        ax.set(xlabel="recall (fraudulent payments found)", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
        out.append(("Fraud: precision and recall over every threshold", _png(fig, plt)))
    if series.per_customer_per_week:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(series.per_customer_per_week, bins=20, color="#2f855a")
        ax.set(xlabel="notifications per week", ylabel="customers")
        out.append(("Notifications per customer", _png(fig, plt)))
    if series.weekly:
        weeks = sorted(series.weekly)
        kinds = sorted({k for counts in series.weekly.values() for k in counts})
        fig, ax = plt.subplots(figsize=(6, 3))
        bottom = [0] * len(weeks)
        for kind in kinds:
            values = [series.weekly[w].get(kind, 0) for w in weeks]
            ax.bar(range(len(weeks)), values, bottom=bottom, label=kind)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set(xlabel="week", ylabel="notifications")
        ax.set_xticks(range(0, len(weeks), max(1, len(weeks) // 6)),
                      [weeks[i] for i in range(0, len(weeks), max(1, len(weeks) // 6))], fontsize=7)
        ax.legend(fontsize=7)
        out.append(("Notifications per week, by kind", _png(fig, plt)))
    return out


def _png(fig: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
