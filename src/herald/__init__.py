"""Herald: a self-hostable, distributed notification system."""

__version__ = "0.1.0"
