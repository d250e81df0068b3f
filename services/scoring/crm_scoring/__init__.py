"""Scoring service: RFM, ABC, composite value, CLV and P(alive), lifecycle stages."""
