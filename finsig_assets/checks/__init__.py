"""Asset checks that run on their own (not inside an asset's step)."""
