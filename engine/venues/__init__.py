"""venues package of carry."""
