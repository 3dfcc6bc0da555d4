"""signals package of carry."""
