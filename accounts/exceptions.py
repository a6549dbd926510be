from spaces_project.common.exceptions import ApplicationError


class NotEligible(ApplicationError):
    code = "not_eligible"
    status_code = 403
    default_detail = "You need more followers to host a Space."


class CannotFollowSelf(ApplicationError):
    code = "cannot_follow_self"
    default_detail = "You cannot follow yourself."


class CannotBlockSelf(ApplicationError):
    code = "cannot_block_self"
    default_detail = "You cannot block yourself."


class UserBlocked(ApplicationError):
    code = "blocked"
    status_code = 403
    default_detail = "This user has blocked you."


class AccountSuspended(ApplicationError):
    code = "account_suspended"
    status_code = 403
    default_detail = "This account is suspended."


class UsernameTaken(ApplicationError):
    code = "username_taken"
    status_code = 409
    default_detail = "This username is already taken."


class OriginNotAllowed(ApplicationError):
    code = "origin_not_allowed"
    status_code = 403
    default_detail = "This login comes from a page of another site."
