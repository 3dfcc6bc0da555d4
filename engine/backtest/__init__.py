"""backtest package of carry."""
