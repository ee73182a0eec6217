"""Masakari-shaped errors: an HTTP status, a fault name and the verbatim message (api.md §5.1).

Raised anywhere in shared/ (the monitor calls the notification path directly and reads
``.code``/``.message``); the api function turns them into fault bodies.
"""

from __future__ import annotations

FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def fault_name(code: int) -> str:
    return FAULT_NAMES.get(code, "masakariFault")


class VigilError(Exception):
    """Base: ``code`` is the HTTP status, ``message`` the text clients see."""

    code = 500
    template = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **kwargs: object) -> None:
        self.message = message if message is not None else self.template.format(**kwargs)
        super().__init__(self.message)

    @property
    def fault_name(self) -> str:
        return fault_name(self.code)

    def body(self) -> dict:
        return {self.fault_name: {"code": self.code, "message": self.message}}


class BadRequest(VigilError):
    code = 400
    template = "Bad request."


class ValidationError(BadRequest):
    """Request body or payload does not match the schema."""


class InvalidInput(BadRequest):
    template = "Invalid input received: {reason}"


class MarkerNotFound(BadRequest):
    template = "Marker {marker} could not be found."


class InvalidSortKey(BadRequest):
    """Masakari 22 shows the exception's repr, quoting and escaping included."""

    def __init__(self, key: str) -> None:
        super().__init__(f"InvalidSortKey({'Sort key supplied is invalid: ' + key!r})")


class HostNotFoundByName(BadRequest):
    template = "Host with name {name} could not be found."


class ComputeNotFoundByName(BadRequest):
    template = "Compute service with name {name} could not be found."


class NotificationWithoutVMoves(BadRequest):
    template = "This notification {id} without vm moves."


class Unauthorized(VigilError):
    code = 401
    template = "The request you have made requires authentication."


class Forbidden(VigilError):
    code = 403
    template = "Policy doesn't allow {action} to be performed."


class NotFound(VigilError):
    code = 404
    template = "Resource could not be found."


class SegmentNotFound(NotFound):
    template = "No failover segment with id {id}."


class HostNotFound(NotFound):
    template = "No host with id {id}."


class HostNotFoundUnderSegment(NotFound):
    template = "Host '{host_id}' under failover_segment '{segment_id}' could not be found."


class NotificationNotFound(NotFound):
    template = "No notification with id {id}."


class VMoveNotFound(NotFound):
    template = "No vm move with id {id}."


class BadMethod(VigilError):
    code = 405
    template = (
        "The request method: '{method}' with action: '{action}' is not allowed on this resource"
    )


class NotAcceptable(VigilError):
    code = 406
    template = (
        "Version {version} is not supported by the API. Minimum is {min} and maximum is {max}."
    )


class Conflict(VigilError):
    code = 409
    template = "There was a conflict when trying to complete your request."


class SegmentExists(Conflict):
    template = "Failover segment with name {name} already exists."


class SegmentInUseUpdate(Conflict):
    template = "Failover segment {uuid} can't be updated as it is in-use to process notifications."


class SegmentInUseDelete(Conflict):
    template = (
        "Failover segment ({uuid}) can't be deleted as it is in-use to process notifications."
    )


class HostExists(Conflict):
    template = "Host with name {name} already exists."


class HostInUseUpdate(Conflict):
    template = "Host {uuid} can't be updated as it is in-use to process notifications."


class HostInUseDelete(Conflict):
    template = "Host {uuid} can't be deleted as it is in-use to process notifications."


class HostOnMaintenance(Conflict):
    template = (
        "Notification received from host {hostname} of type '{type}' is ignored as the host "
        "is already under maintenance."
    )


class DuplicateNotification(Conflict):
    template = "Notification received from host {hostname} of type {type} is duplicate."


class PayloadTooLarge(VigilError):
    code = 413
    template = "Request is too large."


class UnsupportedMediaType(VigilError):
    code = 415
    template = "Unsupported Content-Type"


class NotImplementedFault(VigilError):
    code = 501
    template = "{what} is not implemented."


class ServiceUnavailable(VigilError):
    code = 503
    template = "{service} is unavailable; retry later."
    retry_after = 5  # seconds, sent as Retry-After
