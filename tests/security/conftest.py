"""The security suite shares the integration fixtures: one real broker per session (also listening with SSL and
SASL_SSL), per-test topics and stores on both backends, development-mode tokens signed by the session's identity
provider, TLS on."""

from tests.integration.conftest import (  # noqa: F401
    embedded_broker,
    kafka_secure_listeners,
    kafka_settings,
    produce,
    settings,
    token,
)
