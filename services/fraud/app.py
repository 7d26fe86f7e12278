"""The fraud service, declared: FraudService + the transactions / fraud-feedback stream worker, sharing one scorer
(features, model, policy) so an answer given over gRPC changes the next score at once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from services.fraud.history import MIGRATIONS as HISTORY_MIGRATIONS
from services.fraud.lifecycle_settings import LifecycleSettings
from services.fraud.live_models import LiveModels
from services.fraud.metrics import FraudMetrics
from services.fraud.model import ModelArtifactError, load_model, model_dir_from_env, rules_only_model
from services.fraud.policy import FraudPolicy, load_policy
from services.fraud.repository import MIGRATIONS
from services.fraud.scoring import FraudScorer
from services.fraud.service import FraudServicer
from services.fraud.state_cache import CacheLimits
from services.fraud.worker import FraudHandler, sources
from services.gen.proactivecare.v1 import fraud_pb2_grpc
from services.platform.app import Api, Context, Parts, Service
from services.platform.auth import READERS, Role

NAME = "fraud"
POLICY_FILE_ENV = "FRAUD_POLICY_FILE"
# "rules": in development (`make run`, while the first model trains) score with the policy's rules alone
WITHOUT_MODEL_ENV = "FRAUD_WITHOUT_MODEL"
ACCESS = {
    "ScoreTransaction": frozenset({Role.SERVICE, Role.OPERATOR}),
    "ListAlerts": READERS,
    "GetAlert": READERS,
    "ResolveAlert": frozenset({Role.CUSTOMER, Role.SERVICE}),
    "UnfreezeCard": frozenset({Role.CUSTOMER, Role.OPERATOR}),
}
log = logging.getLogger(__name__)


def policy_from_env() -> FraudPolicy:
    """The policy version in force, from `FRAUD_POLICY_FILE` or the shipped file."""
    policy_file = os.environ.get(POLICY_FILE_ENV)
    return load_policy(path=Path(policy_file)) if policy_file else load_policy()


def assemble(ctx: Context, model_dir: Path | None = None) -> Parts:
    settings, metrics = ctx.settings, ctx.metrics
    directory = model_dir or model_dir_from_env()
    try:
        model = load_model(directory)
    except ModelArtifactError as exc:
        if settings.environment == "development" and os.environ.get(WITHOUT_MODEL_ENV) == "rules":
            log.warning("fraud: no model yet (%s): scoring with the policy's rules alone until one is trained", exc)
            model = rules_only_model()
        else:
            # No model, no scoring: rather than crash-loop, stay up NOT_SERVING (consuming nothing, so the
            # stream waits) and say why; the orchestrator restarts the pod once its liveness gives up.
            reason = f"fraud model not loaded: {exc} (on Kubernetes the fraud-train Job writes one)"
            log.error("fraud: NOT_SERVING: %s", reason)
            return Parts(checks=[lambda: reason])
    policy = policy_from_env()
    limits = CacheLimits(customers=settings.state_cache_customers, entities=settings.state_cache_entities,
                         ttl_seconds=settings.shared_state_ttl_seconds)
    scorer = FraudScorer(model, policy, limits=limits)  # feature state: read from the store as customers come
    lifecycle = LifecycleSettings.from_env()
    # champion swaps between batches, the challenger in shadow, the labelled history (live_models.py)
    models = LiveModels(directory, scorer, metrics, lifecycle.reload_seconds, keep_history=lifecycle.history_days > 0)
    serving = "compiled" if scorer.model.compiled is not None else "scikit-learn"
    log.info("fraud: model %s (%s), policy %s, feature state cache of %d customers", scorer.model.version, serving,
             policy.version, limits.customers)
    servicer = FraudServicer(settings, scorer, ctx.store, metrics)
    background = []
    if lifecycle.retrain_every_seconds > 0 and lifecycle.history_days > 0:
        background.append(retrain_on_schedule(directory, lifecycle, metrics))
    return Parts(servicer=servicer, handler=FraudHandler(settings, scorer, metrics, models=models),
                 sources=sources(settings), background=background, on_stop=[servicer.close])


def retrain_on_schedule(directory: Path, lifecycle: LifecycleSettings, metrics: FraudMetrics,
                        ) -> Callable[[], Coroutine[Any, Any, None]]:
    """`proactive-care fraud retrain` every `FRAUD_RETRAIN_EVERY_SECONDS`, as a child process with the service's
    environment: the training's memory (the whole window in arrays) and CPU stay out of the serving process,
    whose worker goes on scoring and takes a promoted model up between two batches."""
    command = [sys.executable, "-m", "services.cli", "fraud", "retrain", "--model-dir", str(directory),
               "--algorithm", lifecycle.retrain_algorithm]

    async def run_once() -> str:
        child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await child.communicate()
        except asyncio.CancelledError:  # the service stops: so does its retraining
            child.kill()
            raise
        if child.returncode != 0:
            raise RuntimeError(f"fraud retrain exited with {child.returncode}: {err.decode(errors='replace')[-500:]}")
        decision = json.loads(out.decode().strip().splitlines()[-1])["decision"]
        return "promoted" if decision["promoted"] else str(decision["reason"])

    async def job() -> None:
        while True:
            await asyncio.sleep(lifecycle.retrain_every_seconds)
            try:
                metrics.retrains.labels(await run_once()).inc()
            except Exception:  # a failed run must not stop the next one
                metrics.retrains.labels("failed").inc()
                log.exception("fraud: scheduled retraining failed")

    return job


SERVICE = Service(NAME, [*MIGRATIONS, *HISTORY_MIGRATIONS], Api("proactivecare.v1.FraudService",
                                        fraud_pb2_grpc.add_FraudServiceServicer_to_server, ACCESS),
                  assemble, metrics=FraudMetrics.create)
