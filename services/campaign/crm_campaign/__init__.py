"""Campaign service: segments, campaigns with test and control groups, uplift."""
