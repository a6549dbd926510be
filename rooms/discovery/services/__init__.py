"""Discovery writes: reminders, reactions and host messages; reminder notifications."""
