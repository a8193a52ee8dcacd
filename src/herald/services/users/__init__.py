"""Users, contact addresses, push devices, preferences and login (port 8001)."""
