"""The security suite shares the integration fixtures: one real broker per session, per-test topics and
stores on both backends, development-mode tokens signed by the session's identity provider, TLS on."""

from tests.integration.conftest import kafka_settings, produce, settings, token  # noqa: F401
