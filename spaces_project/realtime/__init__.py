"""The realtime layer: sockets, the per-process hub, the wire format, publishing on commit. Imports no app."""
