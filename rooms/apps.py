from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"

    def ready(self) -> None:
        from rooms.selectors import agents_status
        from spaces_project.common.health import ready_section_register

        ready_section_register(name="agents", read=agents_status)
