"""Discovery and the room around the audio: feeds, the first visit, reminders and their notifications,
reactions and messages to the host team (docs/discovery.md).

Shaped like an app, inside rooms (its models are rooms' own): ``selectors/`` (the feeds and the first
visit), ``services/`` (reminders, reactions, host messages; reminder notifications), ``tasks.py``
(registered through ``rooms.tasks``), ``api/`` (the views; their routes are in ``rooms/api/urls.py``).
"""
