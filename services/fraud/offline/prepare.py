"""What `make run` does before the fraud service first starts: train a default model when none exists."""

from __future__ import annotations

from services.fraud.model import ModelArtifactError, load_model, model_dir_from_env
from services.platform.settings import Settings


def prepare(settings: Settings) -> None:
    """Train a default model on simulator data when none exists.

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
    from services.fraud.offline.jobs import load_data, train_job

    print(f"fraud: no model in {directory}; training a default one on simulator data (a few minutes) ...",
          flush=True)
    train_job(load_data(None, 0, spending="mixed"), directory, None, 0.0, ["hist_gradient_boosting"],
              lambda m: print(m, flush=True))
