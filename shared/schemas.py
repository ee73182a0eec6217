"""Request and response shapes of the API, as pydantic models (api.md §6, §8-11).

They live outside shared/api because the monitor creates notifications with the same checks.

The models are the one source of shapes: they validate bodies, shape replies and generate the
OpenAPI document. Masakari validated with JSON Schema Draft 4, and clients compare its texts,
so every field type checks in JSON Schema's order and reports JSON Schema's wording; ``validate``
then picks the error Masakari would have reported first and phrases it the way Masakari does.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar

from oslo_utils import timeutils, uuidutils
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic import (
    ValidationError as PydanticValidationError,
)
from pydantic_core import PydanticCustomError

from shared import errors

M = TypeVar("M", bound=BaseModel)

# --------------------------------------------------------------------------- field checks


def _fail(detail: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("masakari", "{detail}", {"detail": detail, **ctx})


def _is_printable(char: str) -> bool:
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def _type_names(*names: str) -> str:
    return ", ".join(repr(n) for n in names)


def _check_type(value: Any, *types: str) -> None:
    checks = {
        "string": lambda v: isinstance(v, str),
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
    }
    if not any(checks[t](value) for t in types):
        raise _fail(f"{value!r} is not of type {_type_names(*types)}")


def _check_length(value: str, minimum: int | None, maximum: int | None) -> None:
    if minimum is not None and len(value) < minimum:
        raise _fail(f"{value!r} is too short")
    if maximum is not None and len(value) > maximum:
        raise _fail(f"{value!r} is too long")


def _check_enum(value: Any, allowed: list | tuple) -> None:
    if not any(value == a and type(value) is type(a) for a in allowed):
        raise _fail(f"{value!r} is not one of {allowed!r}")


def _check_pattern(value: str, pattern: str) -> None:
    if not re.search(pattern, value):
        raise _fail(f"{value!r} does not match {pattern!r}")


NAME_REASON = (
    "An invalid 'name' value was provided. The name must be: printable characters. "
    "Can not start or end with whitespace."
)


def _name(value: Any) -> str:
    _check_type(value, "string")
    _check_length(value, 1, 255)
    edges_ok = _is_printable(value[0]) and not value[0].isspace() and not value[-1].isspace()
    if not (edges_ok and all(_is_printable(c) for c in value)):
        raise _fail(NAME_REASON, bare=True)
    return value


def _description(value: Any) -> str | None:
    _check_type(value, "string", "null")
    if value is not None and not all(_is_printable(c) or c in "\r\n" for c in value):
        raise _fail(f"{value!r} does not match '^[printable characters and newlines]*$'")
    return value


def _host_type(value: Any) -> str:
    _check_type(value, "string")  # Masakari also allowed null, then failed in the database (§13.3)
    _check_length(value, 0, 255)
    _check_pattern(value, "^[a-zA-Z0-9]*$")
    return value


def _control_attributes(value: Any) -> str:
    _check_type(value, "string")  # §13.3: null is a 400, not a database error
    _description(value)
    return value


BOOLEAN_ENUM = [
    True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
    False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no",
]  # fmt: skip


def _boolean(value: Any) -> bool:
    _check_type(value, "boolean", "string")
    _check_enum(value, BOOLEAN_ENUM)
    if isinstance(value, bool):
        return value
    return value.lower() in ("true", "1", "on", "yes")


def _hostname(value: Any) -> str:
    _check_type(value, "string")
    _check_length(value, 1, 255)
    _check_pattern(value, "^[a-zA-Z0-9-._]*$")
    return value


RECOVERY_METHODS = ["auto", "reserved_host", "auto_priority", "rh_priority"]
# Masakari lists the types in this order in its schema and so in its messages.
NOTIFICATION_TYPES = ("COMPUTE_HOST", "VM", "PROCESS")
EVENT_TYPES = ("STARTED", "STOPPED")
HOST_STATUSES = ("NORMAL", "UNKNOWN")
CLUSTER_STATUSES = ("ONLINE", "OFFLINE")


def _enum_string(allowed: list | tuple, type_first: bool = True) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if type_first:
            _check_type(value, "string")
            _check_enum(value, allowed)
        else:
            _check_enum(value, allowed)
            _check_type(value, "string")
        return value

    return check


def parse_datetime(value: str) -> dt.datetime:
    """oslo's parse_isotime, then naive UTC (api.md §6 ``date-time``)."""
    parsed = timeutils.parse_isotime(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _date_time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):  # in-process callers (the monitor) may pass a datetime
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    _check_type(value, "string")
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError):
        raise _fail(f"{value!r} is not a 'date-time'") from None


PAYLOAD_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")


def _payload(value: Any) -> dict[str, str]:
    _check_type(value, "object")
    extra = [k for k in value if not PAYLOAD_KEY.search(k)]
    for key, item in value.items():  # patternProperties come before additionalProperties
        if key in extra:
            continue
        try:
            _check_type(item, "string")
            _check_length(item, None, 255)
        except PydanticCustomError as exc:
            raise _fail((exc.context or {})["detail"], field=key, value=item) from None
    if extra:
        verb = "does" if len(extra) == 1 else "do"
        keys = ", ".join(repr(k) for k in sorted(extra))
        detail = f"{keys} {verb} not match any of the regexes: {PAYLOAD_KEY.pattern!r}"
        raise _fail(detail, field="payload", value=value)
    return value


def _string(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        _check_type(value, "string")
        _check_length(value, minimum, maximum)
        return value

    return check


def _uuid(value: Any) -> str:
    _check_type(value, "string")
    if not uuidutils.is_uuid_like(value):
        raise _fail(f"{value!r} is not a 'uuid'")
    return value


def _field(check: Callable[[Any], Any], schema: dict[str, Any]) -> Any:
    return (PlainValidator(check), WithJsonSchema(schema))


NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255}
_NAME = _field(_name, NAME_SCHEMA)
_HOST_TYPE = _field(_host_type, {"type": "string", "maxLength": 255, "pattern": "^[a-zA-Z0-9]*$"})
_CONTROL_ATTRIBUTES = _field(_control_attributes, {"type": "string"})
_BOOLEAN = _field(
    _boolean, {"anyOf": [{"type": "boolean"}, {"enum": BOOLEAN_ENUM[1:11] + BOOLEAN_ENUM[12:]}]}
)
_RECOVERY_METHOD = _field(
    _enum_string(RECOVERY_METHODS), {"type": "string", "enum": RECOVERY_METHODS}
)
Name = Annotated[str, *_NAME]
Description = Annotated[str | None, *_field(_description, {"type": ["string", "null"]})]
HostType = Annotated[str, *_HOST_TYPE]
ControlAttributes = Annotated[str, *_CONTROL_ATTRIBUTES]
Boolean = Annotated[bool, *_BOOLEAN]
RecoveryMethod = Annotated[str, *_RECOVERY_METHOD]
# Update fields: absent is None, while an explicit null still meets the field's own check (the
# plain validator sees every given value), so only the static type widens.
OptionalName = Annotated[str | None, *_NAME]
OptionalHostType = Annotated[str | None, *_HOST_TYPE]
OptionalControlAttributes = Annotated[str | None, *_CONTROL_ATTRIBUTES]
OptionalBoolean = Annotated[bool | None, *_BOOLEAN]
OptionalRecoveryMethod = Annotated[str | None, *_RECOVERY_METHOD]
NotificationType = Annotated[
    str,
    *_field(_enum_string(NOTIFICATION_TYPES), {"type": "string", "enum": list(NOTIFICATION_TYPES)}),
]
Hostname = Annotated[
    str,
    *_field(
        _hostname,
        {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[a-zA-Z0-9-._]*$"},
    ),
]
DateTimeIn = Annotated[dt.datetime, *_field(_date_time, {"type": "string", "format": "date-time"})]
Payload = Annotated[
    dict[str, str],
    *_field(
        _payload,
        {
            "type": "object",
            "patternProperties": {PAYLOAD_KEY.pattern: {"type": "string", "maxLength": 255}},
            "additionalProperties": False,
        },
    ),
]


def _event_enum(allowed: tuple) -> Any:
    return _field(
        _enum_string(allowed, type_first=False), {"type": "string", "enum": list(allowed)}
    )


HostStatus = Annotated[str | None, *_event_enum(HOST_STATUSES)]
ClusterStatus = Annotated[str | None, *_event_enum(CLUSTER_STATUSES)]
PayloadEvent = Annotated[str, *_event_enum(EVENT_TYPES)]


# --------------------------------------------------------------------------- request models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _AtLeastOne(_Strict):
    """Update bodies need one property (Masakari's ``anyOf`` of ``required``)."""

    @model_validator(mode="after")
    def _not_empty(self):
        if not self.model_fields_set:
            raise _fail("{} is not valid under any of the given schemas", anyof=True)
        return self


class _ExtraFirst(_Strict):
    """Masakari's segment and host create schemas check unknown keys before required ones."""

    extra_first: ClassVar[bool] = True


class SegmentCreate(_ExtraFirst):
    name: Name
    description: Description = None
    recovery_method: RecoveryMethod
    service_type: Name


class SegmentCreateV12(SegmentCreate):
    enabled: Boolean = True


class SegmentUpdate(_AtLeastOne):
    name: OptionalName = None
    description: Description = None
    recovery_method: OptionalRecoveryMethod = None
    service_type: OptionalName = None


class SegmentUpdateV12(SegmentUpdate):
    enabled: OptionalBoolean = None


class SegmentCreateRequest(_Strict):
    segment: SegmentCreate


class SegmentCreateRequestV12(_Strict):
    segment: SegmentCreateV12


class SegmentUpdateRequest(_Strict):
    segment: SegmentUpdate


class SegmentUpdateRequestV12(_Strict):
    segment: SegmentUpdateV12


class HostCreate(_ExtraFirst):
    name: Name
    type: HostType
    control_attributes: ControlAttributes
    reserved: Boolean = False
    on_maintenance: Boolean = False


class HostUpdate(_AtLeastOne):
    name: OptionalName = None
    type: OptionalHostType = None
    control_attributes: OptionalControlAttributes = None
    reserved: OptionalBoolean = None
    on_maintenance: OptionalBoolean = None


class HostCreateRequest(_Strict):
    host: HostCreate


class HostUpdateRequest(_Strict):
    host: HostUpdate


class NotificationCreate(_Strict):
    type: NotificationType
    hostname: Hostname
    generated_time: DateTimeIn
    payload: Payload


class NotificationCreateRequest(_Strict):
    notification: NotificationCreate


class ComputeHostPayload(_Strict):
    host_status: HostStatus = None
    cluster_status: ClusterStatus = None
    event: PayloadEvent


class ProcessPayload(_Strict):
    process_name: Annotated[
        str, *_field(_string(1, 4096), {"type": "string", "minLength": 1, "maxLength": 4096})
    ]
    event: PayloadEvent


class VMPayload(_Strict):
    instance_uuid: Annotated[str, *_field(_uuid, {"type": "string", "format": "uuid"})]
    vir_domain_event: Annotated[
        str, *_field(_string(1, 255), {"type": "string", "minLength": 1, "maxLength": 255})
    ]
    event: Annotated[
        str, *_field(_string(1, 255), {"type": "string", "minLength": 1, "maxLength": 255})
    ]


PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "COMPUTE_HOST": ComputeHostPayload,
    "PROCESS": ProcessPayload,
    "VM": VMPayload,
}

# --------------------------------------------------------------------------- error wording


def _additional_message(extra: list[str]) -> str:
    verb = "was" if len(extra) == 1 else "were"
    return f"Additional properties are not allowed ({', '.join(repr(e) for e in extra)} {verb} unexpected)"


def _instance(body: Any, path: tuple) -> Any:
    for part in path:
        body = body[part]
    return body


def _model_at(root: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    model: Any = root
    for part in path:
        field = (
            model.model_fields.get(part)
            if isinstance(model, type) and issubclass(model, BaseModel)
            else None
        )
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _order(root: type[BaseModel]) -> Callable[[dict], list[tuple[int]]]:
    """JSON Schema reports, per object: nested property errors, then ``required`` and
    ``additionalProperties`` in the order the schema lists them, then ``anyOf``."""

    def key(error: dict) -> list[tuple[int]]:
        kind, loc = error["type"], error["loc"]
        if kind in ("missing", "extra_forbidden"):
            model = _model_at(root, tuple(loc[:-1]))
            extra_first = bool(model and getattr(model, "extra_first", False))
            rank = {"missing": 1, "extra_forbidden": 2}[kind]
            if extra_first:
                rank = 3 - rank
            return [(0,)] * (len(loc) - 1) + [(rank,)]
        if kind == "masakari" and error.get("ctx", {}).get("anyof"):
            return [(0,)] * len(loc) + [(3,)]
        return [(0,)] * len(loc) + [(0,)]

    return key


def _message(error: dict, body: Any, all_errors: list[dict]) -> str:
    kind, loc = error["type"], tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if kind == "missing":
        path, detail = loc[:-1], f"{loc[-1]!r} is a required property"
    elif kind == "extra_forbidden":
        path = loc[:-1]
        extra = [
            e["loc"][-1] for e in all_errors if e["type"] == kind and tuple(e["loc"][:-1]) == path
        ]
        detail = _additional_message(extra)
        if len(path) != 1:  # envelope level: bare (api.md §6)
            return detail
    elif kind == "masakari":
        if ctx.get("bare"):
            return ctx["detail"]
        if "field" in ctx:
            return f"Invalid input for field/attribute {ctx['field']}. Value: {ctx['value']}. {ctx['detail']}"
        path, detail = loc, ctx["detail"]
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        path, detail = loc, f"{error['input']!r} is not of type 'object'"
    else:
        path, detail = loc, error["msg"]
    if not path:
        return detail
    return f"Invalid input for field/attribute {path[-1]}. Value: {_instance(body, path)}. {detail}"


def validate(model: type[M], body: Any) -> M:
    """Validate ``body`` against ``model``; raise errors.ValidationError with Masakari's text."""
    try:
        return model.model_validate(body)
    except PydanticValidationError as exc:
        found: list[dict] = [dict(e) for e in exc.errors(include_url=False)]
        first = min(found, key=_order(model))
        raise errors.ValidationError(_message(first, body, found)) from None


# --------------------------------------------------------------------------- response models


def _format_time(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(_format_time, return_type=str, when_used="always"),
    WithJsonSchema(
        {"type": "string", "example": "2026-01-01T10:00:00.000000"}, mode="serialization"
    ),
]


def _deleted(value: Any) -> bool:
    return bool(value)


class _View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _SoftDeleteView(_View):
    created_at: Timestamp
    updated_at: Timestamp | None
    deleted: Annotated[bool, PlainValidator(_deleted), WithJsonSchema({"type": "boolean"})]
    deleted_at: Timestamp | None


class SegmentView(_SoftDeleteView):
    id: int
    uuid: str
    name: str
    description: str | None
    recovery_method: str
    service_type: str
    enabled: bool


class HostView(_SoftDeleteView):
    id: int
    uuid: str
    name: str
    type: str
    control_attributes: str
    reserved: bool
    on_maintenance: bool
    failover_segment_id: str
    failover_segment: SegmentView


class NotificationView(_SoftDeleteView):
    id: int
    notification_uuid: str
    type: str
    source_host_uuid: str
    failover_segment_uuid: str
    generated_time: Timestamp
    payload: dict[str, Any]
    status: str
    message: str | None


class ProgressDetail(BaseModel):
    timestamp: str
    message: str
    progress: str


class WorkflowStep(BaseModel):
    name: str
    progress: float
    state: str
    progress_details: list[ProgressDetail]


class NotificationDetailView(NotificationView):
    recovery_workflow_details: list[WorkflowStep]


class VMoveView(_SoftDeleteView):
    id: int
    uuid: str
    notification_uuid: str
    instance_uuid: str
    instance_name: str
    source_host: str | None
    dest_host: str | None
    start_time: Timestamp | None
    end_time: Timestamp | None
    type: str
    status: str
    message: str | None


class HealthSampleView(_View):
    sampled_at: Timestamp
    verdict: str
    ready: str | None
    lease_age: float | None
    nova_state: str | None
    nova_status: str | None
    nova_forced_down: bool | None
    networks: dict[str, Any] | None
    fenced: str | None


class HostHealthView(BaseModel):
    """Microversion 1.4: the monitor's settled view of a host plus its recent samples."""

    host_uuid: str
    host_name: str
    settled_state: str | None
    settled_since: Timestamp | None
    last_reported: str | None
    last_reported_at: Timestamp | None
    fencing_evidence: str | None
    flapping_until: Timestamp | None
    samples: list[HealthSampleView]


def dump(view: type[BaseModel], obj: Any, **extra: Any) -> dict[str, Any]:
    """A database row (or dict) shaped by its view model, JSON-ready."""
    if extra:
        data = {name: getattr(obj, name) for name in view.model_fields if name not in extra}
        data.update(extra)
        return view.model_validate(data).model_dump(mode="json")
    return view.model_validate(obj).model_dump(mode="json")
