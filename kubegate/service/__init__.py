"""The write side: validate with the domain, persist in one transaction, answer."""
