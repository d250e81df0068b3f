"""The supervised churn candidate: scikit-learn's histogram gradient boosting, trained on the tenant's own
history (features as of `as_of - horizon`, label: no purchase day in the horizon after), and its storage.

Settings: a fixed number of rounds with a small learning rate, small trees and large leaves. Early stopping
draws its own validation split, which on the CDNOW history moved the holdout AUC between 0.752 and 0.767 from
one seed to the next; these settings gave 0.767 whatever the seed. It runs on one OpenMP thread: the batch
fits models in other threads meanwhile, and with two threads on two busy cores OpenMP's spinning made a fit
on 50k rows take 2.6 s instead of 0.54 s. Stored with skops, which loads only the
types it is told to trust (unlike pickle, a row in the database cannot make the service run code).

scikit-learn and skops are imported when first used (together ~1.3 s): a batch imports them in a thread while
it reads (batch/prewarm.py), and the service's rescoring needs them only once a classifier has been chosen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

    Classifier = HistGradientBoostingClassifier
MAX_TRAINING_ROWS = 50_000  # a random sample beyond this: the fit's cost grows, its ranking barely improves
MIN_CLASS_SIZE = 50  # fewer customers of either class than this: no classifier
_TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def train(X: np.ndarray, quiet: np.ndarray, seed: int = 0) -> HistGradientBoostingClassifier | None:
    """A classifier of P(no purchase in the horizon), or None with too few examples of either outcome."""
    rows = training_rows(quiet, seed)
    return None if rows is None else fit(X[rows], quiet[rows], seed)


def training_rows(quiet: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """The positions of the examples a classifier trains on (at most MAX_TRAINING_ROWS, at random), or None with
    too few of either outcome: so a caller makes the features of those rows only."""
    if min(int(quiet.sum()), int((~quiet).sum())) < MIN_CLASS_SIZE:
        return None
    if len(quiet) > MAX_TRAINING_ROWS:
        return np.random.default_rng(seed).choice(len(quiet), MAX_TRAINING_ROWS, replace=False)
    return np.arange(len(quiet))


def fit(X: np.ndarray, quiet: np.ndarray, seed: int = 0) -> HistGradientBoostingClassifier:
    """The classifier fitted on exactly these examples (`train` picks them)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=200,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    with threadpool_limits(limits=1, user_api="openmp"):
        return model.fit(X, quiet)


def p_quiet(model: HistGradientBoostingClassifier, X: np.ndarray) -> np.ndarray:
    """P(no purchase in the horizon) per row."""
    classes = list(model.classes_)
    with threadpool_limits(limits=1, user_api="openmp"):
        return np.asarray(model.predict_proba(X)[:, classes.index(True)], dtype=np.float64)


def dumps(model: HistGradientBoostingClassifier) -> bytes:
    import skops.io as sio

    return bytes(sio.dumps(model))


def loads(data: bytes) -> HistGradientBoostingClassifier:
    """Refuses (skops' UntrustedTypesFoundException) anything but a gradient-boosting classifier's parts."""
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = sio.loads(data, trusted=_TRUSTED)
    if not isinstance(model, HistGradientBoostingClassifier):
        raise TypeError(f"a stored churn classifier is a {type(model).__name__}")
    return model


class Cache:
    """Loaded classifiers by calibration id: events rescore customers one transaction at a time, and loading a
    stored classifier costs ~0.1 s. Calibrations never change once written, so an entry never goes stale."""

    def __init__(self, size: int = 4) -> None:
        self._items: OrderedDict[int, HistGradientBoostingClassifier] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: int) -> HistGradientBoostingClassifier | None:
        with self._lock:
            model = self._items.get(key)
            if model is not None:
                self._items.move_to_end(key)
            return model

    def put(self, key: int, model: HistGradientBoostingClassifier) -> None:
        with self._lock:
            self._items[key] = model
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


CACHE = Cache()
