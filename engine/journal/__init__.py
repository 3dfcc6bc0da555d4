"""journal package of carry."""
