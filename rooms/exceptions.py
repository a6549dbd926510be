"""Errors of the rooms domain; every code is stable forever (see docs/api.md)."""

from spaces_project.common.exceptions import ApplicationError, Conflict, Forbidden, NotFound


class SpaceNotFound(NotFound):
    code = "space_not_found"
    default_detail = "No such Space."


class NotHost(Forbidden):
    code = "not_host"
    default_detail = "Only the host can do this."


class NotHostTeam(Forbidden):
    code = "not_host_team"
    default_detail = "Only the host or a current co-host can do this."


class CannotModerateHost(Forbidden):
    code = "cannot_moderate_host"
    default_detail = "Nobody can act on the host of a Space."


class CannotModerateCohost(Forbidden):
    code = "cannot_moderate_cohost"
    default_detail = "A co-host cannot act on another co-host."


class CannotTargetSelf(ApplicationError):
    code = "cannot_target_self"
    default_detail = "You cannot do this to yourself."


class SpaceNotLive(Conflict):
    code = "space_not_live"
    default_detail = "This Space is not live."


class SpaceNotScheduled(Conflict):
    code = "space_not_scheduled"
    default_detail = "Only a scheduled Space can be changed this way."


class HostAlreadyLive(Conflict):
    code = "host_already_live"
    default_detail = "You already have a live Space; end it first."


class InvalidSchedule(ApplicationError):
    code = "invalid_schedule"
    default_detail = "A Space can be scheduled from now up to 14 days ahead."


class Banned(Forbidden):
    code = "banned"
    default_detail = "You were removed from this Space and cannot rejoin."


class BlockedByHost(Forbidden):
    code = "blocked"
    default_detail = "The host of this Space has blocked you."


class SpaceFull(Conflict):
    code = "space_full"
    default_detail = "This Space has reached its listener limit."


class StageFull(Conflict):
    code = "stage_full"
    default_detail = "There is no free seat on the stage for this role."


class NotInSpace(Conflict):
    code = "not_in_space"
    default_detail = "This user is not in the Space."


class NotOnStage(Conflict):
    code = "not_on_stage"
    default_detail = "This user is not on the stage."


class AlreadyOnStage(Conflict):
    code = "already_on_stage"
    default_detail = "This user is already on the stage."


class HostCannotLeaveStage(Conflict):
    code = "host_cannot_leave_stage"
    default_detail = "The host stays on the stage; end the Space instead."


class HandNotRaised(Conflict):
    code = "hand_not_raised"
    default_detail = "There is no raised hand to act on."


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    default_detail = "No such invitation."


class InvitationNotPending(Conflict):
    code = "invitation_not_pending"
    default_detail = "This invitation was already answered or withdrawn."


class InvitationPending(Conflict):
    code = "invitation_pending"
    default_detail = "This user already has a pending invitation."


class AlreadyCohost(Conflict):
    code = "already_cohost"
    default_detail = "This user is already a co-host."


class NotCohost(Conflict):
    code = "not_cohost"
    default_detail = "This user is not a co-host."


class AudioUnavailable(ApplicationError):
    code = "audio_unavailable"
    status_code = 503
    default_detail = "Audio is not configured on this server (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)."


class GuestsNotAllowed(Forbidden):
    code = "guests_not_allowed"
    default_detail = "The host does not let people listen without an account here. Log in or sign up to listen."


class GuestTicketInvalid(ApplicationError):
    code = "not_authenticated"
    status_code = 401
    default_detail = "This guest pass has expired. Open the share link again."


class RecordingNotFound(NotFound):
    code = "recording_not_found"
    default_detail = "This Space has no recording."


class RecordingNotReady(Conflict):
    code = "recording_not_ready"
    default_detail = "The recording is not ready yet."


class RecordingInProgress(Conflict):
    code = "recording_in_progress"
    default_detail = "The Space is still live: end it before deleting its recording."


class RangeNotSatisfiable(ApplicationError):
    code = "range_not_satisfiable"
    status_code = 416
    default_detail = "The requested byte range is outside the file."


class ClipsDisabled(Forbidden):
    code = "clips_disabled"
    default_detail = "The host has turned clips off for this Space."


class InvalidClipRange(ApplicationError):
    code = "invalid_clip_range"
    default_detail = "A clip is up to 60 seconds of what has been recorded."


class ClipNotFound(NotFound):
    code = "clip_not_found"
    default_detail = "No such clip."


class CaptionLineNotFound(NotFound):
    code = "caption_line_not_found"
    default_detail = "No such line in this transcript."
