"""Operations tests start the services like the end-to-end tests: the small fraud model of the session."""

from tests.integration.fraud.conftest import fraud_model_dir  # noqa: F401
