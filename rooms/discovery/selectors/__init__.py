"""Discovery reads: the feeds (live now, upcoming, browse) and the first visit."""
