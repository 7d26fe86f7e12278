"""The security suite shares the integration fixtures: one real broker per session (also listening with SSL and
SASL_SSL), per-test topics and stores on both backends, development-mode tokens signed by the session's identity
provider, TLS on."""

from tests.integration.conftest import produce, settings, token  # noqa: F401
