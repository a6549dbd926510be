"""Input and output shapes of the rooms API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.api.serializers import UserBriefSerializer
from moderation.models import BAN_SCOPES
from rooms.models import Participant, Role, Space


class SpaceCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    title = serializers.CharField(max_length=70, allow_blank=False, trim_whitespace=True)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    topics = serializers.ListField(
        child=serializers.CharField(max_length=30, allow_blank=False), max_length=3, required=False, default=list
    )
    scheduled_start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    listener_cap = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False, allow_null=True)
    guests_allowed = serializers.BooleanField(required=False, default=False)
    record = serializers.BooleanField(required=False, default=False)


class SpaceUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    title = serializers.CharField(max_length=70, allow_blank=False, required=False)
    description = serializers.CharField(max_length=500, allow_blank=True, required=False)
    topics = serializers.ListField(
        child=serializers.CharField(max_length=30, allow_blank=False), max_length=3, required=False
    )
    scheduled_start = serializers.DateTimeField(required=False)
    listener_cap = serializers.IntegerField(min_value=0, max_value=1_000_000, required=False)
    guests_allowed = serializers.BooleanField(required=False)
    clips_enabled = serializers.BooleanField(required=False)


class ReasonInputSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


class RemoveInputSerializer(ReasonInputSerializer):
    ban = serializers.ChoiceField(choices=list(BAN_SCOPES), required=False, default="space")


class InvitationInputSerializer(serializers.Serializer[dict[str, Any]]):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=[Role.SPEAKER.value, Role.COHOST.value], default=Role.SPEAKER.value)


class SpaceOutputSerializer(serializers.ModelSerializer[Space]):
    host = UserBriefSerializer(read_only=True)

    class Meta:
        model = Space
        fields = [
            "id",
            "title",
            "description",
            "topics",
            "state",
            "host",
            "scheduled_start",
            "started_at",
            "ended_at",
            "listener_cap",
            "listener_count",
            "guests_allowed",
            "record",
            "clips_enabled",
            "seq",
            "created_at",
        ]
        read_only_fields = fields


class SpaceDetailOutputSerializer(SpaceOutputSerializer):
    """One Space as the caller sees it: with the caller's role in it (null when none)."""

    my_role = serializers.ChoiceField(choices=Role.choices, allow_null=True, read_only=True)

    class Meta(SpaceOutputSerializer.Meta):
        fields = [*SpaceOutputSerializer.Meta.fields, "my_role"]
        read_only_fields = fields


class ParticipantOutputSerializer(serializers.ModelSerializer[Participant]):
    user = UserBriefSerializer(read_only=True)

    class Meta:
        model = Participant
        fields = ["user", "role", "is_muted", "is_connected", "is_speaking", "recording_declined", "joined_at"]
        read_only_fields = fields


class JoinInputSerializer(serializers.Serializer[dict[str, Any]]):
    transport = serializers.ChoiceField(
        choices=["hls", "webrtc"], required=False, help_text="hls: the client asks for HLS (data saver)"
    )


class JoinOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """``transport: "webrtc"``: LiveKit credentials; ``"hls"``: a signed playlist URL, no LiveKit fields."""

    transport = serializers.ChoiceField(choices=["webrtc", "hls"])
    livekit_url = serializers.CharField(required=False)
    token = serializers.CharField(required=False)
    room = serializers.CharField(required=False)
    identity = serializers.CharField(required=False)
    hls_url = serializers.CharField(
        required=False, help_text="signed, per listener, valid expires_in seconds: call join again before"
    )
    role = serializers.CharField()
    is_muted = serializers.BooleanField()
    ws_url = serializers.CharField()
    expires_in = serializers.IntegerField()


class GuestJoinOutputSerializer(serializers.Serializer[dict[str, Any]]):
    livekit_url = serializers.CharField()
    token = serializers.CharField()
    room = serializers.CharField()
    identity = serializers.CharField()
    ws_url = serializers.CharField()
    ws_ticket = serializers.CharField()
    expires_in = serializers.IntegerField()


class HandOutputSerializer(serializers.Serializer[dict[str, Any]]):
    position = serializers.IntegerField()
    user = UserBriefSerializer()
    raised_at = serializers.DateTimeField()
    wait_s = serializers.IntegerField()


class InvitationOutputSerializer(serializers.Serializer[dict[str, Any]]):
    id = serializers.IntegerField()
    space_id = serializers.IntegerField()
    inviter_id = serializers.IntegerField()
    invitee_id = serializers.IntegerField()
    role = serializers.CharField()
    state = serializers.CharField()
    recorded = serializers.BooleanField()  # the Space is being recorded: told before accepting


class ListenerPageSerializer(serializers.Serializer[dict[str, Any]]):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ParticipantOutputSerializer(many=True)


class ParticipantsOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """The stage (every member) and one cursor page of the connected listeners."""

    stage = ParticipantOutputSerializer(many=True)
    listener_count = serializers.IntegerField()
    listeners = ListenerPageSerializer()


class HandStateOutputSerializer(serializers.Serializer[dict[str, Any]]):
    state = serializers.CharField()
    raised_at = serializers.DateTimeField()


class HandQueueOutputSerializer(serializers.Serializer[dict[str, Any]]):
    """The whole raised-hand queue, first come first (not paginated: a Space's queue is short)."""

    results = HandOutputSerializer(many=True)


class MuteAllOutputSerializer(serializers.Serializer[dict[str, Any]]):
    muted_user_ids = serializers.ListField(child=serializers.IntegerField())


class RecordingSwitchInputSerializer(serializers.Serializer[dict[str, Any]]):
    on = serializers.BooleanField()


class RecordingConsentInputSerializer(serializers.Serializer[dict[str, Any]]):
    record = serializers.BooleanField()
