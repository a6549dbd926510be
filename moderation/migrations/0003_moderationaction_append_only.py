"""Make the moderation audit log append-only in PostgreSQL itself.

A trigger refuses DELETE, and any UPDATE except the ``SET NULL`` that Django performs on ``actor``,
``target`` or ``space`` when that user or Space is deleted. (TRUNCATE, used by test teardown and by an
operator wiping a database, is not a row operation and is not affected.) SQLite, the embedded default,
relies on the application: no code path updates or deletes these rows.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION moderation_action_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'moderation audit rows are append-only (delete refused)';
    END IF;
    IF NEW.id <> OLD.id OR NEW.action <> OLD.action OR NEW.actor_role <> OLD.actor_role
       OR NEW.reason <> OLD.reason OR NEW.details::text <> OLD.details::text OR NEW.created_at <> OLD.created_at
       OR (NEW.actor_id IS DISTINCT FROM OLD.actor_id AND NEW.actor_id IS NOT NULL)
       OR (NEW.target_id IS DISTINCT FROM OLD.target_id AND NEW.target_id IS NOT NULL)
       OR (NEW.space_id IS DISTINCT FROM OLD.space_id AND NEW.space_id IS NOT NULL) THEN
        RAISE EXCEPTION 'moderation audit rows are append-only (update refused)';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS moderation_action_append_only ON moderation_moderationaction;
CREATE TRIGGER moderation_action_append_only BEFORE UPDATE OR DELETE ON moderation_moderationaction
    FOR EACH ROW EXECUTE FUNCTION moderation_action_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS moderation_action_append_only ON moderation_moderationaction;
DROP FUNCTION IF EXISTS moderation_action_append_only();
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("moderation", "0002_reports_notices")]

    operations = [migrations.RunPython(forward, backward)]
