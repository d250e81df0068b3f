"""Customer value computations (DOMAIN.md section 2): RFM, ABC/gold/drag, composite value score, points ledger.

Everything here is pure: NumPy arrays in, NumPy arrays / plain Python data out, no I/O. Per-customer work is
vectorized so a batch job can score ~1,000,000 customers in about a second.
"""

from crm_scoring.value.errors import FormulaError

__all__ = ["FormulaError"]
