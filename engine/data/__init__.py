"""data package of carry."""
