"""The fraud service, declared: FraudService + the transactions / fraud-feedback stream worker, sharing one scorer
(features, model, policy) so an answer given over gRPC changes the next score at once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from services.fraud.metrics import FraudMetrics
from services.fraud.model import ModelArtifactError, load_model, model_dir_from_env, rules_only_model
from services.fraud.policy import load_policy
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
    policy_file = os.environ.get(POLICY_FILE_ENV)
    policy = load_policy(path=Path(policy_file)) if policy_file else load_policy()
    limits = CacheLimits(customers=settings.state_cache_customers, entities=settings.state_cache_entities,
                         ttl_seconds=settings.shared_state_ttl_seconds)
    scorer = FraudScorer(model, policy, limits=limits)  # feature state: read from the store as customers come
    serving = "compiled" if model.compiled is not None else "scikit-learn"
    metrics.model.labels(model.version, model.card.algorithm, serving).set(1)
    log.info("fraud: model %s (%s), policy %s, feature state cache of %d customers", model.version, serving,
             policy.version, limits.customers)
    servicer = FraudServicer(settings, scorer, ctx.store, metrics)
    return Parts(servicer=servicer, handler=FraudHandler(settings, scorer, metrics), sources=sources(settings),
                 on_stop=[servicer.close])


SERVICE = Service(NAME, MIGRATIONS, Api("proactivecare.v1.FraudService",
                                        fraud_pb2_grpc.add_FraudServiceServicer_to_server, ACCESS),
                  assemble, metrics=FraudMetrics.create)
