"""Wire contracts more than one service reads: the event payloads (`events.EVENT_TYPES`, msgspec Structs)
and the few types a second service shares (`common.Money`, `scores.Stage`). A service's own REST models
live in that service. Change a contract only by adding fields with a default."""
