"""Errors of the trust & safety domain; every code is stable forever (see docs/moderation.md)."""

from spaces_project.common.exceptions import ApplicationError, Conflict, NotFound


class CannotReportSelf(ApplicationError):
    code = "cannot_report_self"
    default_detail = "You cannot report yourself."


class ReportAlreadyOpen(Conflict):
    code = "report_already_open"
    default_detail = "You already have an open report about this; staff will tell you the outcome."


class ReportNotOpen(Conflict):
    code = "report_not_open"
    default_detail = "This report was already resolved."


class ReportActionNotApplicable(Conflict):
    code = "action_not_applicable"
    default_detail = "This action does not apply to this report."


class BanNotFound(NotFound):
    code = "ban_not_found"
    default_detail = "This user is not on the ban list."
