"""What `make run` does before the fraud service first starts: train a default model when none exists."""

from __future__ import annotations

from services.fraud.model import ModelArtifactError, load_model, model_dir_from_env
from services.platform.settings import Settings

# while the first model trains, the fraud service runs with the policy's rules alone (development only); it is
# restarted with the model once trained
WHILE_PREPARING = {"FRAUD_WITHOUT_MODEL": "rules"}


def needed(settings: Settings) -> bool:
    """True when no usable model is in the model directory."""
    try:
        load_model(model_dir_from_env())
    except ModelArtifactError:
        return True
    return False


def prepare(settings: Settings) -> None:
    """Train a default model on simulator data when none exists.

    The data are two banks side by side (`fraud train --spending mixed`): the book's steady spenders (every
    amount over 220 is fraud there) and one with varied genuine spending (heavy-tailed amounts, online shops, big
    purchases), so the one default model alerts on the book's frauds and stays quiet on customers who spend
    like people do. HistGradientBoosting only (the quickest to train and to score one row);
    `proactive-care fraud train` compares all three candidates."""
    if not needed(settings):
        return
    from services.fraud.offline.jobs import load_data, train_job

    directory = model_dir_from_env()
    print(f"fraud: no model in {directory}; training a default one on simulator data (a few minutes) ...",
          flush=True)
    train_job(load_data(None, 0, spending="mixed"), directory, None, 0.0, ["hist_gradient_boosting"],
              lambda m: print(m, flush=True))
