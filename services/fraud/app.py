"""`build(settings)`: the fraud service = FraudService + the transactions / fraud-feedback stream worker,
sharing one scorer (features, model, policy) so an answer given over gRPC changes the next score at once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.fraud.metrics import FraudMetrics
from services.fraud.model import ModelArtifactError, load_model, model_dir_from_env
from services.fraud.policy import load_policy
from services.fraud.repository import MIGRATIONS
from services.fraud.scoring import FraudScorer
from services.fraud.service import FraudServicer, grpc_service
from services.fraud.state_cache import CacheLimits
from services.fraud.worker import FraudHandler, sources
from services.platform.app import ServiceApp
from services.platform.runner import StreamRunner
from services.platform.settings import Settings
from services.platform.storage import Store

SERVICE = "fraud"
POLICY_FILE_ENV = "FRAUD_POLICY_FILE"
log = logging.getLogger(__name__)


def build(settings: Settings, model_dir: Path | None = None) -> ServiceApp:
    store = Store.for_service(settings, SERVICE)
    store.migrate(MIGRATIONS)
    registry = CollectorRegistry()
    metrics = FraudMetrics.create(registry)
    directory = model_dir or model_dir_from_env()
    try:
        model = load_model(directory)
    except ModelArtifactError as exc:
        # No model, no scoring: rather than crash-loop, stay up NOT_SERVING (consuming nothing, so the stream
        # waits) and say why; the orchestrator restarts the pod once its liveness gives up.
        reason = f"fraud model not loaded: {exc} (on Kubernetes the fraud-train Job writes one)"
        log.error("fraud: NOT_SERVING: %s", reason)
        return ServiceApp(name=SERVICE, store=store, registry=registry, checks=[lambda: reason],
                          on_stop=[store.close])
    policy_file = os.environ.get(POLICY_FILE_ENV)
    policy = load_policy(path=Path(policy_file)) if policy_file else load_policy()
    limits = CacheLimits(customers=settings.state_cache_customers, entities=settings.state_cache_entities,
                         ttl_seconds=settings.shared_state_ttl_seconds)
    scorer = FraudScorer(model, policy, limits=limits)  # feature state: read from the store as customers come
    serving = "compiled" if model.compiled is not None else "scikit-learn"
    metrics.model.labels(model.version, model.card.algorithm, serving).set(1)
    log.info("fraud: model %s (%s), policy %s, feature state cache of %d customers", model.version, serving,
             policy.version, limits.customers)
    handler = FraudHandler(settings, scorer, metrics)
    runner = StreamRunner(settings, SERVICE, sources(settings), handler, store, registry)
    servicer = FraudServicer(settings, scorer, store, metrics)
    return ServiceApp(name=SERVICE, store=store, registry=registry, grpc_services=[grpc_service(servicer)],
                      runners=[runner], on_stop=[servicer.close, store.close])


def prepare(settings: Settings) -> None:
    """First start (`make run`): train a default model on simulator data when none exists.

    The data are two banks side by side (`fraud train --spending mixed`): the book's steady spenders (every
    amount over 220 is fraud there) and one with varied genuine spending (heavy-tailed amounts, online shops, big
    purchases), so the one default model alerts on the book's frauds and stays quiet on customers who spend
    like people do. HistGradientBoosting only (the quickest to train and to score one row);
    `proactive-care fraud train` compares all three candidates."""
    directory = model_dir_from_env()
    try:
        load_model(directory)
        return
    except ModelArtifactError:
        pass
    from services.fraud.jobs import load_data, train_job

    print(f"fraud: no model in {directory}; training a default one on simulator data (a few minutes) ...",
          flush=True)
    train_job(load_data(None, 0, spending="mixed"), directory, None, 0.0, ["hist_gradient_boosting"],
              lambda m: print(m, flush=True))
