"""Choosing by evidence on the tenant's own history: which churn-risk signal ranks best the customers who
then bought nothing, and which purchase model predicts the purchases made best (choose.py), from a split of
the history at `as_of - horizon` (split.py)."""
