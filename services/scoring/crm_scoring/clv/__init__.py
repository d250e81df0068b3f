"""Customer lifetime value: BG/NBD, MBG/NBD and Pareto/NBD purchase models, Gamma-Gamma spend, CLV and churn
risk."""

from crm_scoring.clv._fit import FitResult
from crm_scoring.clv._nbd import NBDModel, bgnbd, mbgnbd
from crm_scoring.clv._pareto import ParetoNBDModel, paretonbd
from crm_scoring.clv.summary import RFMSummary, from_arrays, from_transactions, group
from crm_scoring.clv.value import CustomerValue, churn_risk, clv, score_customers

__all__ = [
    "CustomerValue",
    "FitResult",
    "NBDModel",
    "ParetoNBDModel",
    "RFMSummary",
    "bgnbd",
    "churn_risk",
    "clv",
    "from_arrays",
    "from_transactions",
    "group",
    "mbgnbd",
    "paretonbd",
    "score_customers",
]
