"""The batch's slow imports made in a thread while it reads: scikit-learn and scipy.stats take ~1 s to import
and are first needed by the choice of the churn signal, after the read. Imported at the start instead, they
held up the whole run. skops (~0.5 s more) is not among them: a refit only needs it to serialize its
classifier, which it does while the server builds the new table's indexes (batch/runner.py), when this
process would only wait."""

from __future__ import annotations

import importlib
import logging
import threading

log = logging.getLogger("crm.scoring.batch")
MODULES = ("scipy.stats", "sklearn.ensemble")


def start() -> threading.Thread:
    """Import MODULES in a daemon thread; join it before using them (a failure is left for the user's own
    import to raise)."""
    thread = threading.Thread(target=_import_all, name="prewarm-imports", daemon=True)
    thread.start()
    return thread


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the module's own import will raise it where it is used
            log.debug("prewarm: importing %s failed", name, exc_info=True)
