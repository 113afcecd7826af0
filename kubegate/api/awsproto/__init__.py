"""AWS wire protocols, driven by botocore's service models (no per-operation JSON or XML)."""
