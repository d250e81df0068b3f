"""The churn service's win-back cases, as far as targeting needs them: a campaign can address the
customers whose case is open (the segment field `winback`)."""
