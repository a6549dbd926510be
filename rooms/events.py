"""Typed websocket events of the rooms domain (stage, lifecycle, recording, captions, discovery).

Each class is one frame a client receives: its fields are the frame's ``data`` (in this order), its base
says who gets it and whether it takes a new ``seq`` (``spaces_project.realtime.events``). Services send
them with ``send_event_on_commit``; room events take the Space's next ``seq`` in the transaction of the
change (``rooms.services._common.seq_next``), host-team and personal events carry the current one.
Payloads carry ids and the changed fields only. docs/protocol.md lists the same catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict

from rooms.models import Participant
from spaces_project.realtime.events import (
    UNSET,
    CloseSockets,
    Coalesce,
    HostTeamEvent,
    Origin,
    RoomEvent,
    Seq,
    SocketFrame,
    Timestamp,
    Unset,
    UserEvent,
)
from spaces_project.realtime.wire import CLOSE_ENDED, CLOSE_FORBIDDEN

RoleName = Literal["host", "cohost", "speaker", "listener"]
SpaceStateName = Literal["scheduled", "live", "ended", "canceled"]


class StageMember(TypedDict):
    user_id: int
    username: str
    display_name: str
    role: RoleName
    is_muted: bool
    is_connected: bool
    is_speaking: bool
    recording_declined: bool
    captions_declined: bool


def stage_member(participant: Participant) -> StageMember:
    return {
        "user_id": participant.user_id,
        "username": participant.user.username,
        "display_name": participant.user.display_name,
        "role": participant.role,  # type: ignore[typeddict-item]  # a Role value
        "is_muted": participant.is_muted,
        "is_connected": participant.is_connected,
        "is_speaking": participant.is_speaking,
        "recording_declined": participant.recording_declined,
        "captions_declined": participant.captions_declined,
    }


# --- lifecycle --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SpaceStarted(RoomEvent):
    """The host started the Space."""

    type = "space.started"
    started_at: Timestamp


@dataclass(frozen=True, kw_only=True)
class SpaceUpdated(RoomEvent):
    """The host edited the Space: only the changed fields are present."""

    type = "space.updated"
    scheduled_start: Timestamp | Unset = UNSET
    title: str | Unset = UNSET
    description: str | Unset = UNSET
    topics: list[str] | Unset = UNSET
    listener_cap: int | Unset = UNSET
    guests_allowed: bool | Unset = UNSET
    clips_enabled: bool | Unset = UNSET


@dataclass(frozen=True, kw_only=True)
class SpaceEnded(RoomEvent):
    """The Space ended (``reason`` is the host's, empty, or ``canceled``); then every socket closes with 4410."""

    type = "space.ended"
    close = CloseSockets(code=CLOSE_ENDED, reason="space_ended")
    reason: str
    ended_at: Timestamp


# --- the stage --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StageUpdated(RoomEvent):
    """The whole stage, after any change to it."""

    type = "stage.updated"
    stage: list[StageMember]


@dataclass(frozen=True, kw_only=True)
class HandRaised(HostTeamEvent):
    """A listener raised their hand (``position`` in the queue)."""

    type = "hand.raised"
    user_id: int
    username: str
    raised_at: Timestamp
    position: int


@dataclass(frozen=True, kw_only=True)
class HandLowered(HostTeamEvent):
    """A listener took their hand down."""

    type = "hand.lowered"
    user_id: int


@dataclass(frozen=True, kw_only=True)
class RequestApproved(RoomEvent):
    """The host team brought a raised hand on stage; ``recorded``: the Space is being recorded."""

    type = "request.approved"
    user_id: int
    by: int
    recorded: bool


@dataclass(frozen=True, kw_only=True)
class RequestDeclined(UserEvent):
    """To the requester: the host team declined their raised hand."""

    type = "request.declined"
    user_id: int


@dataclass(frozen=True, kw_only=True)
class RequestDeclinedToHosts(HostTeamEvent):
    """To the host team: ``by`` declined ``user_id``'s raised hand."""

    type = "request.declined"
    user_id: int
    by: int


@dataclass(frozen=True, kw_only=True)
class InviteReceived(UserEvent):
    """To the invitee: an invitation to speak or co-host (``recorded``: told before accepting)."""

    type = "invite.received"
    invitation_id: int
    role: Literal["speaker", "cohost"]
    inviter_id: int
    recorded: bool


@dataclass(frozen=True, kw_only=True)
class InviteAnswered(HostTeamEvent):
    """To the host team: the invitee accepted or declined."""

    type = "invite.answered"
    invitation_id: int
    state: Literal["accepted", "declined"]


# --- moderation in the room ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ParticipantMuted(RoomEvent):
    """The host team muted speakers."""

    type = "participant.muted"
    user_ids: list[int]
    by: int


@dataclass(frozen=True, kw_only=True)
class ParticipantRemoved(RoomEvent):
    """Someone was removed (``by`` null: the system); then that user's sockets close with 4403."""

    type = "participant.removed"
    close = CloseSockets(code=CLOSE_FORBIDDEN, reason="removed", user_field="user_id")
    user_id: int
    by: int | None


@dataclass(frozen=True, kw_only=True)
class ParticipantRemovedNotice(UserEvent):
    """To the removed user, on every socket: ``ban`` is the ban scope (``space``, ``host``) or empty."""

    type = "participant.removed"
    user_id: int
    ban: str


# --- recording and captions -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RecordingUpdated(RoomEvent):
    """The host turned recording on or off."""

    type = "recording.updated"
    recording: bool


@dataclass(frozen=True, kw_only=True)
class CaptionsUpdated(RoomEvent):
    """The host turned live captions on or off."""

    type = "captions.updated"
    captions: bool


@dataclass(frozen=True, kw_only=True)
class Caption(RoomEvent):
    """A live caption line: partials of a ``phrase`` are replaced by later ones and by its final caption;
    ``id`` is the stored transcript line (null for a partial); times are on the recording's timeline."""

    type = "caption"
    id: int | None
    phrase: int
    user_id: int
    username: str
    display_name: str
    start_ms: int
    end_ms: int
    text: str
    final: bool


# --- counts, reactions, messages (discovery) ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ListenersCount(RoomEvent):
    """The listener count: made by each process's hub at most once a second per Space, when it changed."""

    type = "listeners.count"
    seq_rule = Seq.CURRENT
    origin = Origin.HUB
    count: int


class ReactionCounts(TypedDict):
    counts: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class Reaction(RoomEvent):
    """A reaction. Sockets never get one by one: the hub sums a Space's reactions over 250 ms windows and
    sends ``{"counts": {emoji: n}}``."""

    type = "reaction"
    seq_rule = Seq.CURRENT
    coalesce = Coalesce(key="emoji", window_s=0.25, delivered=ReactionCounts)
    emoji: str
    user_id: int


@dataclass(frozen=True, kw_only=True)
class MessageReceived(HostTeamEvent):
    """To the host team: a short message from someone in the Space."""

    type = "message.received"
    id: int
    user_id: int
    username: str
    display_name: str
    text: str
    created_at: Timestamp


# --- the snapshot ----------------------------------------------------------------------------------------


class SnapshotSpace(TypedDict):
    id: int
    title: str
    state: SpaceStateName
    host_id: int
    started_at: Timestamp | None
    recording: bool
    captions: bool


class CaptionLine(TypedDict):
    id: int
    user_id: int
    username: str
    display_name: str
    start_ms: int
    end_ms: int
    text: str
    final: bool


class YourHand(TypedDict):
    raised_at: Timestamp


class YourInvitation(TypedDict):
    id: int
    role: Literal["speaker", "cohost"]
    inviter_id: int
    recorded: bool


class You(TypedDict):
    user_id: int | None
    role: RoleName | Literal["guest"] | None
    hand: YourHand | None
    invitation: YourInvitation | None


class QueuedHand(TypedDict):
    position: int
    user_id: int
    username: str
    raised_at: Timestamp
    wait_s: int


@dataclass(frozen=True, kw_only=True)
class Snapshot(SocketFrame):
    """Everything to draw the Space at ``seq``: the first frame on every socket and the answer to resync.
    ``hands`` is the host team's (null for everyone else); ``captions`` the last final lines."""

    type = "snapshot"
    seq_rule = Seq.CURRENT
    space_id: int
    v: int
    space: SnapshotSpace
    captions: list[CaptionLine]
    stage: list[StageMember]
    you: You
    hands: list[QueuedHand] | None
    listener_count: int


# Names older code (and parallel branches) import: the wire names, from the classes.
SPACE_STARTED = SpaceStarted.type
SPACE_ENDED = SpaceEnded.type
SPACE_UPDATED = SpaceUpdated.type
STAGE_UPDATED = StageUpdated.type
HAND_RAISED = HandRaised.type
HAND_LOWERED = HandLowered.type
REQUEST_APPROVED = RequestApproved.type
REQUEST_DECLINED = RequestDeclined.type
INVITE_RECEIVED = InviteReceived.type
INVITE_ANSWERED = InviteAnswered.type
PARTICIPANT_MUTED = ParticipantMuted.type
PARTICIPANT_REMOVED = ParticipantRemoved.type
LISTENERS_COUNT = ListenersCount.type
RECORDING_UPDATED = RecordingUpdated.type
CAPTIONS_UPDATED = CaptionsUpdated.type
CAPTION = Caption.type
REACTION = Reaction.type
MESSAGE_RECEIVED = MessageReceived.type
