from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from accounts.selectors import host_eligibility
from spaces_project.common.openapi import OptionalEmailField, OptionalURLField


class PublicUserSerializer(serializers.ModelSerializer[User]):
    avatar_url = OptionalURLField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "bio", "avatar_url", "follower_count", "following_count"]
        read_only_fields = fields


class UserBriefSerializer(serializers.ModelSerializer[User]):
    avatar_url = OptionalURLField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "avatar_url"]
        read_only_fields = fields


class EligibilitySerializer(serializers.Serializer[dict[str, Any]]):
    can_host = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    followers = serializers.IntegerField()
    threshold = serializers.IntegerField()
    override = serializers.BooleanField()


class UserDetailOutputSerializer(PublicUserSerializer):
    """A profile as seen by the caller: with the follow and block relations between them."""

    followed_by_me = serializers.BooleanField(read_only=True)
    follows_me = serializers.BooleanField(read_only=True)
    blocked_by_me = serializers.BooleanField(read_only=True)

    class Meta(PublicUserSerializer.Meta):
        fields = [*PublicUserSerializer.Meta.fields, "followed_by_me", "follows_me", "blocked_by_me"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer[User]):
    email = OptionalEmailField(read_only=True)
    avatar_url = OptionalURLField(read_only=True)
    can_host = serializers.SerializerMethodField()
    host_eligibility = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "display_name",
            "bio",
            "avatar_url",
            "follower_count",
            "following_count",
            "is_staff",
            "can_host",
            "host_eligibility",
        ]
        read_only_fields = fields

    def get_can_host(self, obj: User) -> bool:
        return bool(host_eligibility(user=obj)["can_host"])

    @extend_schema_field(EligibilitySerializer)
    def get_host_eligibility(self, obj: User) -> dict[str, Any]:
        return host_eligibility(user=obj)


class MeUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    display_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    bio = serializers.CharField(max_length=160, required=False, allow_blank=True)
    avatar_url = OptionalURLField(max_length=500, required=False, allow_blank=True)


class RegisterInputSerializer(serializers.Serializer[dict[str, Any]]):
    username = serializers.RegexField(
        r"^[A-Za-z0-9_]{3,30}$", error_messages={"invalid": "Use 3-30 letters, digits or underscores."}
    )
    password = serializers.CharField(min_length=8, max_length=128, write_only=True)
    email = OptionalEmailField(required=False, allow_blank=True)
    display_name = serializers.CharField(max_length=50, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Run AUTH_PASSWORD_VALIDATORS against the account being made (similarity needs its fields)."""
        candidate = User(
            username=attrs["username"],
            email=attrs.get("email", ""),
            display_name=attrs.get("display_name") or attrs["username"],
        )
        try:
            validate_password(attrs["password"], candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class TokenInputSerializer(serializers.Serializer[dict[str, Any]]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128)


class TokenOutputSerializer(serializers.Serializer[dict[str, Any]]):
    token = serializers.CharField()
    user = MeSerializer()
