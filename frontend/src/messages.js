// What the page says when the server refuses: by the error's stable `code` (docs/api.md). No DOM here, so
// the socket's close handling that uses it can be unit-tested in node.
export const ERRORS = {
  not_eligible: "You need more followers to host a Space.",
  ticket_required: "This Space is ticketed: buy a ticket to join.",
  banned: "You were removed from this Space and cannot rejoin.",
  space_not_found: "This Space does not exist.",
  removed: "You were removed from this Space and cannot rejoin.",
  blocked: "You can't join this Space.",
  space_not_live: "This Space is not live.",
  space_full: "This Space is full right now.",
  account_suspended: "Your account is suspended.",
};

export function explain(err) { return ERRORS[err.code] || err.message; }
