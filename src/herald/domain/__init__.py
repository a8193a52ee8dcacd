"""Plain Python: the rules of notifications. No I/O library is imported here."""
