"""Spaces, their stage and presence, hand raises and invitations. Data and constraints only."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from spaces_project.common.models import TimeStampedModel


class SpaceState(models.TextChoices):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELED = "canceled"


class Role(models.TextChoices):
    """Ranked roles: host > cohost > speaker > listener (see ``ROLE_RANK``)."""

    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"


ROLE_RANK = {Role.HOST: 3, Role.COHOST: 2, Role.SPEAKER: 1, Role.LISTENER: 0}
STAGE_ROLES = (Role.HOST, Role.COHOST, Role.SPEAKER)
HOST_TEAM = (Role.HOST, Role.COHOST)


class Space(TimeStampedModel):
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosted_spaces")
    title = models.CharField(max_length=70)
    description = models.CharField(max_length=500, blank=True)
    topics = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=SpaceState.choices, default=SpaceState.SCHEDULED)
    scheduled_start = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    listener_cap = models.PositiveIntegerField(default=0, help_text="0 = no cap")
    # Number of connected listeners, kept by presence changes with F() updates.
    listener_count = models.PositiveIntegerField(default=0)
    # The most listeners connected at once (kept with listener_count, in the same UPDATE).
    peak_listener_count = models.PositiveIntegerField(default=0)
    # Reactions sent; counted in the shared cache while live, written here when the Space ends.
    reaction_count = models.PositiveIntegerField(default=0)
    # Last websocket event number of this Space; taken with F() in the transaction of the change.
    seq = models.PositiveBigIntegerField(default=0)
    # Set when the last host-team member leaves a live Space; the auto-end task reads it.
    host_team_absent_since = models.DateTimeField(null=True, blank=True)
    # The host lets people without an account listen from the share link (docs/security.md, "Guest listeners").
    guests_allowed = models.BooleanField(default=False)
    # The host's choice: record this Space (consent rules in rooms/services/recordings.py).
    record = models.BooleanField(default=False)
    # HLS overflow (rooms/services/hls.py): WebRTC listeners past this count get HLS (null: the setting);
    # the operator may force HLS for every listener; hls_active is set by the first HLS join (the agent
    # then encodes HLS until the Space ends).
    hls_threshold = models.PositiveIntegerField(null=True, blank=True, help_text="empty = SPACES_HLS_THRESHOLD")
    hls_forced = models.BooleanField(default=False, help_text="every listener gets HLS")
    hls_active = models.BooleanField(default=False, editable=False)
    clips_enabled = models.BooleanField(default=True)  # the host may turn clips off
    # The host's choice: live captions (rooms/services/captions.py); needs the audio agent in the room.
    captions = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host"], condition=Q(state="live"), name="space_one_live_per_host"),
            models.CheckConstraint(
                condition=Q(state__in=["scheduled", "live", "ended", "canceled"]), name="space_state_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-started_at"]),
            models.Index(fields=["state", "scheduled_start"]),
            models.Index(fields=["host", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.state})"

    @property
    def livekit_room(self) -> str:
        return f"{settings.LIVEKIT_ROOM_PREFIX}{self.pk}"


class Participant(TimeStampedModel):
    """A user's membership of a Space: their role and presence. One row per (Space, user)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LISTENER)
    is_muted = models.BooleanField(default=False)
    is_connected = models.BooleanField(default=False)  # in the Space right now (join/leave, webhooks)
    is_speaking = models.BooleanField(default=False)  # has a published microphone track in LiveKit
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # Whether LiveKit matches this row; cleared by the apply task, set by every role/mute change.
    livekit_dirty = models.BooleanField(default=False)
    # The participant declined to be recorded: the audio agent leaves their track out of the mix.
    recording_declined = models.BooleanField(default=False)
    # The participant declined to be captioned: the agent never transcribes their track.
    captions_declined = models.BooleanField(default=False)
    # How this participant hears the Space ("webrtc" or "hls", set by join): an HLS listener's presence
    # comes from the Spaces websocket, since LiveKit never sees them.
    transport = models.CharField(max_length=6, default="webrtc")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="participant_unique"),
            models.UniqueConstraint(fields=["space"], condition=Q(role="host"), name="participant_one_host"),
        ]
        indexes = [
            models.Index(fields=["space", "role", "is_connected"]),
            # The live-now feed reads the stage seats of the live Spaces (rooms/discovery/selectors/feeds.py);
            # ended Spaces' seats stay in it, but the feed only probes it per live Space, so history does not
            # slow it.
            models.Index(
                fields=["space", "user"], condition=Q(role__in=STAGE_ROLES), name="participant_stage_by_space"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.space_id}:{self.role}"


class GuestListener(models.Model):
    """A guest (no account) connected to a Space's audio: one row per LiveKit identity ``guest-…``.

    Written by the LiveKit webhooks only, so a guest is counted in ``Space.listener_count`` while LiveKit
    has them in the room; the unique identity makes a repeated webhook count once.
    """

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="guest_listeners")
    identity = models.CharField(max_length=64)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "identity"], name="guest_listener_unique")]

    def __str__(self) -> str:
        return f"{self.identity}@{self.space_id}"


class HandState(models.TextChoices):
    RAISED = "raised"
    APPROVED = "approved"
    DECLINED = "declined"
    LOWERED = "lowered"


class HandRaise(models.Model):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="hand_raises")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hand_raises")
    state = models.CharField(max_length=10, choices=HandState.choices, default=HandState.RAISED)
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], condition=Q(state="raised"), name="hand_one_open"),
        ]
        indexes = [models.Index(fields=["space", "state", "raised_at"])]

    def __str__(self) -> str:
        return f"hand {self.user_id}@{self.space_id} {self.state}"


class InvitationState(models.TextChoices):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELED = "canceled"


class Invitation(TimeStampedModel):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="invitations")
    inviter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    invitee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=[(Role.SPEAKER, "speaker"), (Role.COHOST, "cohost")])
    state = models.CharField(max_length=10, choices=InvitationState.choices, default=InvitationState.PENDING)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "invitee"], condition=Q(state="pending"), name="invitation_one_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"invite {self.invitee_id}@{self.space_id} as {self.role} ({self.state})"


class Reminder(models.Model):
    """A user's reminder (RSVP) for a scheduled Space: they are notified when it starts, moves or is canceled."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="space_reminders")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "user"], name="reminder_unique")]

    def __str__(self) -> str:
        return f"reminder {self.user_id}@{self.space_id}"


class NotificationKind(models.TextChoices):
    SPACE_STARTED = "space_started"
    SPACE_RESCHEDULED = "space_rescheduled"
    SPACE_CANCELED = "space_canceled"


class Notification(models.Model):
    """One notice to one user. ``key`` tells repeated notices of one kind apart (a reschedule's new start);
    the unique constraint makes every notice exactly-once however often its task runs."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "space", "kind", "key"], name="notification_once")]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.space_id} -> {self.user_id}"


class HostMessage(models.Model):
    """A short message from a participant to the host team of a Space (the Space's inbox)."""

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="host_messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=280)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["space", "-created_at"])]

    def __str__(self) -> str:
        return f"message {self.sender_id} -> hosts of {self.space_id}"


# --- recordings and the audio agent (rooms/services/recordings.py, rooms/agent/) -----------------------


class RecordingState(models.TextChoices):
    RECORDING = "recording"  # the Space is live (recording on or paused)
    PROCESSING = "processing"  # the Space ended; parts are being joined into the replay
    READY = "ready"
    FAILED = "failed"


class Recording(TimeStampedModel):
    """A Space's recording: one per Space, created the first time recording is turned on while live.

    Its timeline is wall-clock milliseconds since ``started_at``; parts, speaker segments and the replay
    all use it (stretches with recording off are silent in the replay).
    """

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="recording")
    state = models.CharField(max_length=12, choices=RecordingState.choices, default=RecordingState.RECORDING)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(default=0)
    file = models.CharField(max_length=300, blank=True)  # path of the replay in default_storage
    size_bytes = models.PositiveBigIntegerField(default=0)
    ready_at = models.DateTimeField(null=True, blank=True)
    play_count = models.PositiveIntegerField(default=0)  # replay plays started (the host summary)

    class Meta:
        indexes = [models.Index(fields=["state", "ended_at"])]

    def __str__(self) -> str:
        return f"recording of {self.space_id} ({self.state})"


class RecordingPart(models.Model):
    """A few seconds of the encoded mix (Ogg Opus) as one object in storage, written by one agent."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="parts")
    agent_id = models.CharField(max_length=64)
    session = models.PositiveIntegerField()  # the lease epoch under which it was written
    start_ms = models.PositiveBigIntegerField()
    duration_ms = models.PositiveIntegerField()
    file = models.CharField(max_length=300)
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["recording", "start_ms"])]

    def __str__(self) -> str:
        return f"part {self.recording_id}@{self.start_ms}ms"


class SpeakerSegment(models.Model):
    """Who spoke when, from each track's energy: a stretch of the recording's timeline."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="segments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start_ms = models.PositiveBigIntegerField()
    end_ms = models.PositiveBigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["recording", "start_ms"])]
        constraints = [models.CheckConstraint(condition=Q(end_ms__gt=F("start_ms")), name="segment_positive")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.start_ms}-{self.end_ms}ms"


class Clip(models.Model):
    """Up to 60 s cut from a recording (live from its parts, or from the replay), with its own page."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="clips")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    title = models.CharField(max_length=100, blank=True)
    start_ms = models.PositiveBigIntegerField()
    end_ms = models.PositiveBigIntegerField()
    file = models.CharField(max_length=300, blank=True)
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(end_ms__gt=F("start_ms")), name="clip_positive")]

    def __str__(self) -> str:
        return f"clip {self.pk} of {self.space_id}"


class AgentLease(models.Model):
    """Which audio agent serves a Space. Taken and renewed only by conditional UPDATEs: an agent holds a
    Space while ``expires_at`` is in the future; ``epoch`` grows with every new holder."""

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="agent_lease")
    agent_id = models.CharField(max_length=64, blank=True)
    epoch = models.PositiveIntegerField(default=0)
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.space_id} held by {self.agent_id or '-'} until {self.expires_at:%H:%M:%S}"


class AgentWorker(models.Model):
    """One running agent process (its heartbeat and health), shown by readyz and the admin."""

    agent_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=200, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    livekit_ok = models.BooleanField(default=True)
    last_error = models.CharField(max_length=500, blank=True)
    spaces = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.agent_id


class CaptionLine(models.Model):
    """One final caption: a phrase of one speaker on the recording's timeline (the Space's transcript).

    Deleted with the recording (retention and the host's deletion follow it); the host may edit the text.
    """

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="caption_lines")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="caption_lines")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start_ms = models.PositiveBigIntegerField()
    end_ms = models.PositiveBigIntegerField()
    text = models.CharField(max_length=2000)
    edited = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["space", "start_ms"])]
        constraints = [models.CheckConstraint(condition=Q(end_ms__gte=F("start_ms")), name="caption_ordered")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.start_ms}-{self.end_ms}ms"
