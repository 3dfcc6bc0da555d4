"""strategies package of carry."""
