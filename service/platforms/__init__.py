"""Platform adapters: one module per vendor (request building, auth, outcome table)."""
