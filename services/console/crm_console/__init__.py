"""Console: the managers' and agents' web view of retention, over the gateway."""
