"""config package of carry."""
