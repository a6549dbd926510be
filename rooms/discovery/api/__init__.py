"""Discovery API views (routes in rooms/api/urls.py)."""
