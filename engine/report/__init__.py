"""report package of carry."""
