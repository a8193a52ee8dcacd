"""Concrete adapters: each real one beside its embedded one."""
