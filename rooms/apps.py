from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"

    def ready(self) -> None:
        from rooms import realtime
        from rooms.selectors import agents_status
        from spaces_project.common.health import ready_section_register

        realtime.register()  # the rules of a Space's sockets, for the realtime layer (which imports no app)
        ready_section_register(name="agents", read=agents_status)  # /readyz: which agent holds which Space
