from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "spaces_project.common"
    label = "common"
