"""finsig: S&P 500 minute candles and financial news as a Dagster asset graph."""
