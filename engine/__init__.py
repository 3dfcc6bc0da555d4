"""carry: an automated cash-and-carry execution engine built on NautilusTrader."""
