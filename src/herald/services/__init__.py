"""The five services. They never import each other: they talk over HTTP and the queue."""
