"""Public wire contracts of the suite. Change them only by adding optional fields."""
