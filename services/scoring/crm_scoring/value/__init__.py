"""Customer value computations (DOMAIN.md section 2): RFM, ABC/gold/drag and the cut points that place a
customer in the base (the composite value formula engine is in formulas/engine.py, beside its API).

Everything here is pure: NumPy arrays in, NumPy arrays / plain Python data out, no I/O. Per-customer work is
vectorized so a batch job can score ~1,000,000 customers in about a second.
"""

from crm_scoring.value.errors import FormulaError

__all__ = ["FormulaError"]
