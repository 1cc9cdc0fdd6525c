"""Tests of the SQL-model runner and gold/market_features."""
