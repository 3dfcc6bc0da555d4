"""risk package of carry."""
