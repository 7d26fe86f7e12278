"""Anticipation evaluation: run a seeded simulated bank through the advice worker's handler and score the
shortfall nudges against the simulator's ground truth (overdraft episodes).

- `overdraft_recall_24h`: share of overdraft episodes with a sent shortfall nudge between 7 days and 24 hours
  before the episode started.
- `shortfall_precision`: share of sent shortfall nudges followed by an overdraft episode within 7 days (the
  simulated customers never act on a nudge, so this is "when the customer does nothing").
- `overdraft_recall_24h_interval`, `shortfall_precision_interval`: their 95% Wilson intervals, so a figure is
  read with its sample size (a bank of 200 customers has a few hundred episodes; a segment far fewer).
- `median_lead_hours`: for the episodes recalled, hours from the latest qualifying nudge to the episode start.
- `price_rise_detection`, `duplicate_detection`: recall / precision of the eligible price-increase and
  duplicate-charge nudges against the simulator's planted price rises and duplicate charges;
  `price_rise_nudges_per_real_change`: price-increase nudges sent per planted price change.
- `nudges_per_customer_per_month`: every nudge sent, per customer per simulated month.
- `by_pay_rhythm`: the overdraft figures and nudges per customer per month for each pay rhythm of the
  simulator's market mix (`--market`), so an average never hides a segment.

By default the records go through `AdviceHandler.handle` in poll-sized batches inside store transactions,
as the StreamRunner calls it, but in-process (no broker). `via_kafka=True` runs the real pipeline instead: the
simulator produces to Kafka and the advice service's StreamRunner consumes it (ordering across the two topics
is then Kafka's, as in production).
"""

from __future__ import annotations

import bisect
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from services.advice.metrics import AdviceMetrics
from services.advice.policy import policy_book
from services.advice.repository import MIGRATIONS, AdviceRepository
from services.advice.rules.shortfall import TYPE as SHORTFALL
from services.advice.worker import AdviceHandler
from services.platform.progress import Progress
from services.platform.runner import Record
from services.platform.settings import Settings
from services.platform.storage import Store
from services.platform.topics import CUSTOMERS, TRANSACTIONS
from services.simulator.truth import interval

if TYPE_CHECKING:
    from services.simulator.bank import Bank

LEAD_MIN = timedelta(hours=24)
HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class EvaluationConfig:
    seed: int = 0
    customers: int = 500
    days: int = 183
    batch: int = 500
    market: str = "default"  # the simulator's pay-rhythm mix (services.simulator.catalog.PAY_MIXES)
    payday_spending: float = 0.0  # the simulator's spending that follows pay (BankConfig.payday_spending)


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def score(nudges: list[tuple[str, datetime]], episodes: list[tuple[str, datetime]],
          warmup_end: datetime | None = None,
          leads_out: list[float] | None = None) -> dict[str, float | int | list[float] | None]:
    """Pure scoring of (customer, sent-at) shortfall nudges against (customer, start) overdraft episodes
    (`leads_out`, when given, receives each recalled episode's lead in hours)."""
    by_customer: dict[str, list[datetime]] = {}
    for customer, at in nudges:
        by_customer.setdefault(customer, []).append(at)
    for times in by_customer.values():
        times.sort()
    starts: dict[str, list[datetime]] = {}
    for customer, start in episodes:
        starts.setdefault(customer, []).append(start)
    for times in starts.values():
        times.sort()

    leads: list[float] = []
    recalled = recalled_after_warmup = after_warmup = 0
    for customer, start in episodes:
        times = by_customer.get(customer, [])
        # latest nudge no later than start - 24 h, and no earlier than start - 7 days
        i = bisect.bisect_right(times, start - LEAD_MIN)
        hit = i > 0 and times[i - 1] >= start - HORIZON
        counted = warmup_end is None or start >= warmup_end
        after_warmup += counted
        if hit:
            recalled += 1
            recalled_after_warmup += counted
            leads.append((start - times[i - 1]).total_seconds() / 3600)
    followed = 0
    for customer, at in nudges:
        times = starts.get(customer, [])
        j = bisect.bisect_right(times, at)
        followed += j < len(times) and times[j] <= at + HORIZON
    if leads_out is not None:
        leads_out.extend(leads)
    return {
        "overdraft_recall_24h": round(recalled / len(episodes), 4) if episodes else 0.0,
        "shortfall_precision": round(followed / len(nudges), 4) if nudges else 0.0,
        "median_lead_hours": round(statistics.median(leads), 1) if leads else 0.0,
        "overdraft_recall_24h_after_warmup": round(recalled_after_warmup / after_warmup, 4) if after_warmup else 0.0,
        "overdraft_recall_24h_interval": interval(recalled, len(episodes)),
        "shortfall_precision_interval": interval(followed, len(nudges)),
        "n_overdraft_episodes": len(episodes),
        "n_shortfall_nudges": len(nudges),
    }


def match_share(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float | int]:
    """Recall and precision of keyed detections (e.g. (customer, payee) price rises)."""
    hits = len(found & truth)
    return {"recall": round(hits / len(truth), 4) if truth else 0.0,
            "precision": round(hits / len(found), 4) if found else 0.0, "truth": len(truth), "found": len(found)}


def run(config: EvaluationConfig, workdir: Path | None = None, via_kafka: bool = False) -> dict[str, object]:
    from services.simulator import truth
    from services.simulator.bank import build_bank
    from services.simulator.bank_config import BankConfig
    from services.simulator.handbook import HandbookConfig

    started = time.perf_counter()
    bank = build_bank(HandbookConfig(n_customers=config.customers, n_terminals=max(1000, 2 * config.customers),
                                     n_days=config.days, seed=config.seed),
                      BankConfig.for_market(config.market, payday_spending=config.payday_spending))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        if via_kafka:
            store, info = _through_kafka(bank, Path(tmp))
        else:
            store, info = _in_process(bank, config, Path(tmp))
        with store.read() as tx:
            repo = AdviceRepository(tx)
            nudges = [(n.customer_id, n.created_at.ToDatetime(tzinfo=UTC)) for n in repo.find_nudges((SHORTFALL,))]
            counts = repo.sent_counts()
            sent_by_customer = repo.sent_by_customer()
            # eligible (sent or not): detection quality, independent of the ranking
            others = repo.find_nudges(("SUBSCRIPTION_PRICE_INCREASE", "DUPLICATE_CHARGE"), sent_only=False)
        store.close()
    price_rises_sent = counts.get("SUBSCRIPTION_PRICE_INCREASE", 0)
    records = list(truth.bank_records(bank))
    rises_found = {(n.customer_id, n.data["series_key"].removeprefix("D:")) for n in others
                   if n.type == "SUBSCRIPTION_PRICE_INCREASE"}
    rises_truth = {(r["customer_id"], r["counterparty_id"]) for r in records if r["type"] == "price_rise"}
    dups_found = {(n.customer_id, n.data["second_tx_id"]) for n in others if n.type == "DUPLICATE_CHARGE"}
    dups_truth = {(r["customer_id"], r["duplicate_id"]) for r in records if r["type"] == "duplicate"}
    episodes = [(r["customer_id"], _instant(r["start"])) for r in records if r["type"] == "overdraft_episode"]
    start = datetime.combine(bank.handbook.config.start_date, datetime.min.time(), UTC)
    policy = policy_book().at(start)
    warmup_end = start + timedelta(days=policy.forecast.min_history_days)
    result: dict[str, object] = dict(score(nudges, episodes, warmup_end))
    months = config.days / (365.25 / 12)
    rhythm = {c.customer_id: c.pay_rhythm for c in bank.customers}
    result["nudges_per_customer_per_month"] = round(sum(sent_by_customer.values()) / len(rhythm) / months, 3)
    result["price_rise_nudges_sent"] = price_rises_sent
    result["price_rise_nudges_per_real_change"] = round(price_rises_sent / len(rises_truth), 3) if rises_truth else 0.0
    by_rhythm: dict[str, object] = {}
    for r in sorted(set(rhythm.values())):
        members = {c for c, x in rhythm.items() if x == r}
        part = dict(score([n for n in nudges if n[0] in members], [e for e in episodes if e[0] in members],
                          warmup_end))
        part["customers"] = len(members)
        part["nudges_per_customer_per_month"] = round(
            sum(n for c, n in sent_by_customer.items() if c in members) / len(members) / months, 3)
        by_rhythm[r] = part
    result["by_pay_rhythm"] = by_rhythm
    result.update(info)
    result.update({
        "seed": config.seed, "customers": config.customers, "days": config.days, "market": config.market,
        "payday_spending": config.payday_spending,
        "sent_nudges_by_type": counts, "seconds": round(time.perf_counter() - started, 1),
        "price_rise_detection": match_share(rises_found, rises_truth),
        "duplicate_detection": match_share(dups_found, dups_truth),
    })
    return result


def _in_process(bank: Bank, config: EvaluationConfig, tmp: Path) -> tuple[Store, dict[str, object]]:
    """Profiles, then every transaction in time order, through the handler in poll-sized store transactions."""
    from services.simulator import events

    settings = Settings()
    store = Store.open(tmp / "advice-eval.sqlite")
    store.migrate(MIGRATIONS)
    registry = CollectorRegistry()
    handler = AdviceHandler(settings, policy_book(), AdviceMetrics.create(registry))
    profiles = [Record(settings.topic(CUSTOMERS), 0, i, p.customer_id, f"p/{i}", p, 0)
                for i, p in enumerate(events.profiles(bank))]
    with store.transaction() as tx:
        handler.handle(profiles, tx)
    n_tx = 0
    batch: list[Record] = []
    replay_started = time.perf_counter()
    with Progress("advice replay", total=len(bank.ledger.time_s), unit="transactions") as progress:
        for offset, message in enumerate(events.transactions(bank)):
            batch.append(Record(settings.topic(TRANSACTIONS), 0, offset, message.customer_id, message.id, message,
                                message.timestamp.seconds * 1000))
            if len(batch) >= config.batch:
                with store.transaction() as tx:
                    handler.handle(batch, tx)
                n_tx += len(batch)
                progress.update(len(batch))
                batch = []
        if batch:
            with store.transaction() as tx:
                handler.handle(batch, tx)
            n_tx += len(batch)
            progress.update(len(batch))
    seconds = time.perf_counter() - replay_started
    return store, {"mode": "in-process (AdviceHandler.handle in poll-sized store transactions; no broker)",
                   "transactions": n_tx, "transactions_per_second": round(n_tx / seconds, 1) if seconds else 0.0,
                   "not_sent_by_reason": held_by_reason(registry)}


def held_by_reason(registry: CollectorRegistry) -> dict[str, int]:
    """Eligible nudges not sent, by reason (the `..._advice_nudges_held_total` counter summed over types)."""
    out: dict[str, int] = {}
    for metric in registry.collect():
        if metric.name.endswith("_advice_nudges_held"):
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    why = sample.labels["why"]
                    out[why] = out.get(why, 0) + int(sample.value)
    return dict(sorted(out.items()))


def _through_kafka(bank: Bank, tmp: Path) -> tuple[Store, dict[str, object]]:
    """The real pipeline: produce the bank to Kafka (the embedded broker, started here when none answers),
    run the advice service (StreamRunner + gRPC) until it has handled every record, score from its store."""
    from services.advice.app import SERVICE
    from services.devtools.kafka_launcher import ensure_topics
    from services.devtools.pipeline import broker, wait_done
    from services.platform.app import ServiceThread
    from services.simulator.produce import produce_bank

    run_id = uuid.uuid4().hex[:8]
    with broker(Settings.from_env(), tmp / "kafka") as base:
        settings = base.with_overrides(topic_prefix=f"adveval{run_id}.", consumer_group_prefix=f"adveval{run_id}",
                                       data_dir=tmp / "data", grpc_port=0, metrics_port=0)
        ensure_topics(settings)
        app = SERVICE.build(settings)
        with ServiceThread(app, settings):
            began = time.perf_counter()
            consumed = (settings.topic(TRANSACTIONS), settings.topic(CUSTOMERS))  # not the fraud feedback
            results = [r for r in produce_bank(bank, settings) if r.topic in consumed]
            produced = sum(r.records for r in results)
            produced_at = time.perf_counter()
            wait_done(app, {r.topic: r.records for r in results})
            seconds = time.perf_counter() - began
    store = Store.for_service(settings, "advice")
    return store, {"mode": f"kafka ({settings.bootstrap_servers}): simulator -> topics -> advice StreamRunner",
                   "records_produced": produced, "produce_seconds": round(produced_at - began, 1),
                   "transactions_per_second": round(produced / seconds, 1) if seconds else 0.0}
