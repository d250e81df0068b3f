"""Typed clients of the suite's services: one per upstream, one method per call, returning the types a
second service reads (the microservices-demo pattern). The caller brings the base URL and the auth."""
