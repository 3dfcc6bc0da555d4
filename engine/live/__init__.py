"""Paper, testnet and live trading: TradingNode assembly, the stream recorder, the kill switch."""
