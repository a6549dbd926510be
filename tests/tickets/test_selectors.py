"""Who needs a ticket to join: buyers need a paid one; hosts, co-hosts and invited speakers never."""

from __future__ import annotations

import pytest
from django.conf import settings

from rooms.models import Invitation, InvitationState, Participant, Role, Space
from tests.factories import UserFactory
from tests.support.builders import make_paid_ticket, make_ticketed_space
from tickets.exceptions import TicketRequired
from tickets.models import Ticket, TicketOffer, TicketStatus
from tickets.selectors import (
    TicketFlags,
    access_ticket_for_join,
    ticket_annotations,
    ticket_flags_read,
    ticket_required_for,
)

pytestmark = pytest.mark.django_db


def test_a_listener_without_a_ticket_is_refused_with_402():
    space = make_ticketed_space()
    user = UserFactory()
    assert ticket_required_for(user=user, space=space) is True
    with pytest.raises(TicketRequired) as info:
        access_ticket_for_join(user=user, space=space)
    assert (info.value.status_code, info.value.code) == (402, "ticket_required")


def test_a_paid_ticket_opens_the_door_but_a_hold_or_refund_does_not():
    space = make_ticketed_space()
    paid = make_paid_ticket(space=space)
    assert ticket_required_for(user=paid.buyer, space=space) is False
    Ticket.objects.filter(pk=paid.pk).update(status=TicketStatus.REFUNDED)
    assert ticket_required_for(user=paid.buyer, space=space) is True
    Ticket.objects.filter(pk=paid.pk).update(status=TicketStatus.HELD)
    assert ticket_required_for(user=paid.buyer, space=space) is True


def test_host_and_cohost_are_exempt():
    space = make_ticketed_space()
    cohost = UserFactory()
    Participant.objects.create(space=space, user=cohost, role=Role.COHOST)
    assert ticket_required_for(user=space.host, space=space) is False
    assert ticket_required_for(user=cohost, space=space) is False


@pytest.mark.parametrize(
    ("state", "required"),
    [
        (InvitationState.PENDING, False),
        (InvitationState.ACCEPTED, False),
        (InvitationState.DECLINED, True),
        (InvitationState.CANCELED, True),
    ],
)
def test_invited_speakers_are_exempt_while_the_invitation_stands(state, required):
    space = make_ticketed_space()
    speaker = UserFactory()
    Invitation.objects.create(space=space, inviter=space.host, invitee=speaker, role=Role.SPEAKER, state=state)
    assert ticket_required_for(user=speaker, space=space) is required


def test_a_free_space_needs_no_ticket():
    space = make_ticketed_space()
    TicketOffer.objects.filter(space=space).delete()
    assert ticket_required_for(user=UserFactory(), space=space) is False


def test_ticket_beat_jobs_are_scheduled():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"tickets.tasks.ticket_holds_expire", "tickets.tasks.payouts_process_due"} <= tasks


def annotated(space, user):
    found = Space.objects.annotate(**ticket_annotations(user_id=user.pk)).get(pk=space.pk)
    return found, ticket_flags_read(space=found, user_id=user.pk)


def test_annotated_space_admits_a_ticket_holder_without_a_query(django_assert_num_queries):
    space = make_ticketed_space()
    buyer = make_paid_ticket(space=space).buyer
    found, flags = annotated(space, buyer)
    with django_assert_num_queries(0):
        assert ticket_required_for(user=buyer, space=found, flags=flags) is False


def test_annotated_space_reads_only_the_exemptions(django_assert_num_queries):
    space = make_ticketed_space()
    user = UserFactory()
    found, flags = annotated(space, user)
    with django_assert_num_queries(2):  # on stage? invited?
        assert ticket_required_for(user=user, space=found, flags=flags) is True


def test_annotated_free_space_costs_no_query(django_assert_num_queries):
    space = make_ticketed_space()
    TicketOffer.objects.filter(space=space).delete()
    user = UserFactory()
    found, flags = annotated(space, user)
    with django_assert_num_queries(0):
        assert ticket_required_for(user=user, space=found, flags=flags) is False


def test_a_second_check_on_the_same_space_costs_nothing(django_assert_num_queries):
    space = make_ticketed_space()
    buyer = make_paid_ticket(space=space).buyer
    flags = TicketFlags(user_id=buyer.pk)
    access_ticket_for_join(user=buyer, space=space, flags=flags)
    with django_assert_num_queries(0):
        access_ticket_for_join(user=buyer, space=space, flags=flags)
