from django.urls import path

from rooms.api import (
    audio_health_views,
    captions_views,
    clip_views,
    recording_views,
    views,
)
from rooms.discovery.api import first_visit_views
from rooms.discovery.api import views as discovery_views

urlpatterns = [
    path("spaces", discovery_views.SpaceCollectionView.as_view(), name="space-list"),
    path("spaces/live", discovery_views.LiveNowView.as_view(), name="space-live-now"),
    path("discover", first_visit_views.DiscoverView.as_view(), name="discover"),
    path("spaces/upcoming", discovery_views.UpcomingView.as_view(), name="space-upcoming"),
    path("spaces/<int:space_id>", views.SpaceDetailView.as_view(), name="space-detail"),
    path("spaces/<int:space_id>/start", views.SpaceStartView.as_view(), name="space-start"),
    path("spaces/<int:space_id>/end", views.SpaceEndView.as_view(), name="space-end"),
    path("spaces/<int:space_id>/cancel", views.SpaceCancelView.as_view(), name="space-cancel"),
    path("spaces/<int:space_id>/join", views.SpaceJoinView.as_view(), name="space-join"),
    path("spaces/<int:space_id>/guest-join", views.SpaceGuestJoinView.as_view(), name="space-guest-join"),
    path("spaces/<int:space_id>/leave", views.SpaceLeaveView.as_view(), name="space-leave"),
    path("spaces/<int:space_id>/participants", views.ParticipantsView.as_view(), name="space-participants"),
    path("spaces/<int:space_id>/hand", views.HandView.as_view(), name="space-hand"),
    path("spaces/<int:space_id>/hands", views.HandQueueView.as_view(), name="space-hands"),
    path("spaces/<int:space_id>/hands/<str:username>/approve", views.HandApproveView.as_view(), name="hand-approve"),
    path("spaces/<int:space_id>/hands/<str:username>/decline", views.HandDeclineView.as_view(), name="hand-decline"),
    path("spaces/<int:space_id>/invitations", views.InvitationCreateView.as_view(), name="invitation-create"),
    path(
        "spaces/<int:space_id>/invitations/<int:invitation_id>/accept",
        views.InvitationAcceptView.as_view(),
        name="invitation-accept",
    ),
    path(
        "spaces/<int:space_id>/invitations/<int:invitation_id>/decline",
        views.InvitationDeclineView.as_view(),
        name="invitation-decline",
    ),
    path("spaces/<int:space_id>/participants/<str:username>/mute", views.MuteView.as_view(), name="participant-mute"),
    path(
        "spaces/<int:space_id>/participants/<str:username>/move-to-listeners",
        views.MoveToListenersView.as_view(),
        name="participant-move-to-listeners",
    ),
    path(
        "spaces/<int:space_id>/participants/<str:username>/remove",
        views.RemoveView.as_view(),
        name="participant-remove",
    ),
    path(
        "spaces/<int:space_id>/participants/<str:username>/cohost",
        views.CohostView.as_view(),
        name="participant-cohost",
    ),
    path("spaces/<int:space_id>/mute-all", views.MuteAllView.as_view(), name="space-mute-all"),
    path("spaces/<int:space_id>/leave-stage", views.LeaveStageView.as_view(), name="space-leave-stage"),
    path("spaces/<int:space_id>/reminder", discovery_views.ReminderView.as_view(), name="space-reminder"),
    path("spaces/<int:space_id>/reactions", discovery_views.ReactionView.as_view(), name="space-reactions"),
    path("spaces/<int:space_id>/messages", discovery_views.MessagesView.as_view(), name="space-messages"),
    path(
        "spaces/<int:space_id>/audio-reports", audio_health_views.AudioReportView.as_view(), name="space-audio-reports"
    ),
    path("ops/audio-health", audio_health_views.OpsAudioHealthView.as_view(), name="ops-audio-health"),
    path("spaces/<int:space_id>/recording", recording_views.RecordingSwitchView.as_view(), name="space-recording"),
    path("spaces/<int:space_id>/recording/audio", recording_views.RecordingAudioView.as_view(), name="space-replay"),
    path(
        "spaces/<int:space_id>/recording/consent",
        recording_views.RecordingConsentView.as_view(),
        name="space-recording-consent",
    ),
    path("spaces/<int:space_id>/summary", recording_views.SpaceSummaryView.as_view(), name="space-summary"),
    path("spaces/<int:space_id>/clips", clip_views.ClipCreateView.as_view(), name="space-clips"),
    path("clips/<int:clip_id>", clip_views.ClipDetailView.as_view(), name="clip-detail"),
    path("clips/<int:clip_id>/audio", clip_views.ClipAudioView.as_view(), name="clip-audio"),
    path("me/notifications", discovery_views.NotificationsView.as_view(), name="me-notifications"),
    # Live captions and transcripts (rooms/api/captions_views.py)
    path("spaces/<int:space_id>/captions", captions_views.CaptionsSwitchView.as_view(), name="space-captions"),
    path(
        "spaces/<int:space_id>/captions/consent",
        captions_views.CaptionsConsentView.as_view(),
        name="space-captions-consent",
    ),
    path(
        "spaces/<int:space_id>/recording/transcript",
        captions_views.TranscriptView.as_view(),
        name="space-transcript",
    ),
    path(
        "spaces/<int:space_id>/recording/transcript/<int:line_id>",
        captions_views.TranscriptLineView.as_view(),
        name="space-transcript-line",
    ),
    path(
        "spaces/<int:space_id>/recording/captions.vtt",
        captions_views.CaptionsVttView.as_view(),
        name="space-captions-vtt",
    ),
    path("search/transcripts", captions_views.TranscriptSearchView.as_view(), name="search-transcripts"),
]
