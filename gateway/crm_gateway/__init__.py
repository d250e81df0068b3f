"""The API gateway of the retention CRM: one entry point in front of the services."""
