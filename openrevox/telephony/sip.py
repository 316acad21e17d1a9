"""A failed call's SIP response code, as the spec's `dial_error`."""

SIP_DIAL_ERRORS = {
    404: "number_non_attributed", 410: "number_non_attributed", 484: "number_non_attributed",
    604: "number_non_attributed", 486: "busy", 600: "busy", 603: "busy", 480: "temporarily_unavailable",
    503: "temporarily_unavailable", 408: "no_answer", 403: "precondition_failed",
}  # fmt: skip


def dial_error_for_sip(code: str | int | None) -> str:
    text = str(code or "")
    return SIP_DIAL_ERRORS.get(int(text) if text.isdigit() else 0, "non_classified_error")
