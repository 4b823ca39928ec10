"""Target profiles: a TOML file telling the harness how to drive one checkout.

``load_profile(path)`` reads and validates the file (pydantic v2, unknown fields refused).
Every error names the file, the field, the value and what is allowed, on one line. The
reference is ``docs/targets.md``; ``targets/reference.toml`` describes ``reference_app``.

Templates (paths and bodies) use ``{name}`` placeholders that the drivers fill at run time
with :func:`render`; a string that is exactly one placeholder keeps the value's type, so
``quantity = "{quantity}"`` sends a JSON number. Strings may also name environment
variables, ``${VAR}`` or ``${VAR:-default}``, filled when the profile is loaded
(:mod:`harness._profile_env`).
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness._profile_env import EnvError, prepare
from harness.types import Capability, Severity

Method = Literal["GET", "POST", "PUT", "PATCH"]
AUTO = "auto"


class ProfileError(ValueError):
    """A target profile that cannot be used; the message is one actionable line."""


def placeholders(template: Any) -> set[str]:
    """The ``{name}`` placeholders used anywhere in a template (strings, lists, tables)."""
    if isinstance(template, str):
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if isinstance(template, dict):
        return set().union(*(placeholders(v) for v in template.values()), set())
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template), set())
    return set()


T = TypeVar("T")


def render(template: T, values: dict[str, Any]) -> T:
    """Fill a template's placeholders; ``KeyError`` names a missing one."""
    if isinstance(template, str):
        whole = re.fullmatch(r"\{(\w+)\}", template)
        if whole:
            return values[whole.group(1)]  # type: ignore[no-any-return]
        return template.format_map(values)  # type: ignore[return-value]
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}  # type: ignore[return-value]
    if isinstance(template, list):
        return [render(v, values) for v in template]  # type: ignore[return-value]
    return template


def _check_placeholders(value: Any, allowed: set[str]) -> Any:
    try:
        unknown = placeholders(value) - allowed
    except ValueError as exc:  # unbalanced braces
        raise ValueError(f"is not a valid template ({exc})") from None
    if unknown:
        names = ", ".join("{" + n + "}" for n in sorted(unknown))
        raise ValueError(
            f"uses placeholder {names}, which is not one of {', '.join(sorted(allowed)) or 'none'}"
        )
    return value


def _pointer(value: str) -> str:
    if value and not value.startswith("/"):
        raise ValueError("is not a JSON pointer (it starts with '/', e.g. '/order_id')")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSection(_Section):
    url: str = AUTO
    """Base URL of the fake provider, or ``"auto"`` when the harness starts it."""
    api_key: str = "sk_test_nodouble"
    business_key: str = "order_id"
    charge_calls: list[str] | None = None
    """Provider calls the faults aim at (``"METHOD /path"``, ``*`` is one segment); by
    default every call that can move money (the fake's ``money`` matcher)."""
    port: int = Field(default=0, ge=0, le=65535)
    """With ``url = "auto"`` and a checkout of your own: the port the harness starts the
    fake provider on (0: a free port, chosen when the profile is loaded)."""
    hold_limit_s: float = Field(default=20.0, gt=0, le=600)
    """How long a holding fault (``hang_after``) holds the provider's answer at most when
    the checkout does not give up first."""
    ledger: Literal["fake", "stripe"] = "fake"
    """Where the harness reads the money moved: the fake's ``/_fake/ledger``, or Stripe's
    public API in test mode (:mod:`harness.ledger_sources.stripe`)."""
    api_key_env: str | None = None
    """With ``ledger = "stripe"``: the environment variable holding the account's test key
    (read at run time, never stored in the profile)."""
    api_base: str = "https://api.stripe.com"
    """With ``ledger = "stripe"``: the API the ledger is read from (tests point it at the
    fake, which serves the same public endpoints)."""

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("is not an environment variable name (e.g. 'STRIPE_TEST_KEY')")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("is not an http(s) URL (e.g. 'https://api.stripe.com')")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _ledger_key(self) -> ProviderSection:
        if self.ledger == "stripe" and not self.api_key_env:
            raise ValueError(
                "ledger = 'stripe' needs api_key_env, the environment variable holding the "
                "account's test key"
            )
        return self

    @field_validator("charge_calls")
    @classmethod
    def _calls(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("lists no call; leave it out to aim at every money-moving call")
        for call in value:
            method, _, path = call.partition(" ")
            if method not in ("GET", "POST", "DELETE", "*") or not path.startswith("/v1/"):
                raise ValueError(
                    f"entry {call!r} is not 'METHOD /v1/path' (e.g. "
                    "'POST /v1/payment_intents/*/confirm')"
                )
        return value

    @field_validator("api_key")
    @classmethod
    def _test_key(cls, value: str) -> str:
        if not value.startswith("sk_test_"):
            raise ValueError("must start with 'sk_test_' (never point nodouble at live keys)")
        return value


class LoginRequest(_Section):
    method: Method = "POST"
    path: str
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    form: dict[str, str] | None = None

    @field_validator("path", "json_body", "form")
    @classmethod
    def _templates(cls, value: Any) -> Any:
        return _check_placeholders(value, {"user"})

    @model_validator(mode="after")
    def _one_body(self) -> LoginRequest:
        if self.json_body is not None and self.form is not None:
            raise ValueError("give json or form, not both")
        return self


class CsrfSection(_Section):
    """Where a framework's CSRF token comes from and how it goes back (Django, Rails,
    Laravel...): every POST, PUT, PATCH and DELETE the API driver sends carries it."""

    source: Literal["cookie", "meta", "field"]
    """``cookie``: a cookie's value; ``meta``: the ``content`` of a ``<meta name=...>`` tag;
    ``field``: the ``value`` of an ``<input name=...>`` of a page."""
    name: str = Field(min_length=1)
    """The cookie's, the meta tag's or the input's name."""
    page: str = "/"
    """Path the driver GETs for the token (and its cookies) before the first unsafe request
    and again after each sign-in; for ``cookie``, only when the cookie is not set yet."""
    header: str | None = None
    """Send the token in this request header..."""
    field: str | None = None
    """...or as this field of the JSON or form body."""

    @field_validator("page")
    @classmethod
    def _page(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be a path starting with '/'")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> CsrfSection:
        if (self.header is None) == (self.field is None):
            raise ValueError("give exactly one of header or field (how the token is sent)")
        return self


class SessionSection(_Section):
    users: list[str] = Field(default_factory=lambda: ["alice", "bob"], min_length=1)
    login: LoginRequest | None = None
    headers: dict[str, dict[str, str]] | None = None
    """Static request headers per user name, when there is no login request."""
    csrf: CsrfSection | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SessionSection:
        if (self.login is None) == (self.headers is None):
            raise ValueError("give exactly one of [session.login] or [session.headers]")
        return self


def _default_params() -> dict[str, str | int | float]:
    return {"sku": "tee", "quantity": 1}


class CreateOrder(_Section):
    method: Method = "POST"
    path: str = "/api/orders"
    body: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, str | int | float] = Field(default_factory=_default_params)
    order_id_pointer: str = "/order_id"
    amount_pointer: str = "/amount"

    @field_validator("order_id_pointer", "amount_pointer")
    @classmethod
    def _pointers(cls, value: str) -> str:
        return _pointer(value)

    @model_validator(mode="after")
    def _known(self) -> CreateOrder:
        allowed = set(self.params) | {"user"}
        try:
            _check_placeholders(self.body, allowed)
            _check_placeholders(self.path, allowed)
        except ValueError as exc:
            raise ValueError(f"body or path {exc}") from None
        return self


class Confirm(_Section):
    method: Method = "POST"
    path: str = "/api/orders/{order_id}/confirm"
    body: dict[str, Any] = Field(default_factory=dict)
    idempotency_header: str | None = "Idempotency-Key"
    """Header carrying the client's key; ``""`` for a checkout keyed on the order itself."""

    @field_validator("idempotency_header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        _check_placeholders(value, {"order_id", "user"})
        if "{order_id}" not in value:
            raise ValueError("must contain {order_id}")
        return value

    @field_validator("body")
    @classmethod
    def _body(cls, value: dict[str, Any]) -> dict[str, Any]:
        allowed = {"order_id", "user", "key", "payment_method"}
        return _check_placeholders(value, allowed)  # type: ignore[no-any-return]


class ReadOrder(_Section):
    method: Method = "GET"
    path: str = "/api/orders/{order_id}"
    paid_pointer: str = "/status"
    paid_value: str | int | bool = "paid"
    amount_pointer: str = "/amount"

    @field_validator("paid_pointer", "amount_pointer")
    @classmethod
    def _pointers(cls, value: str) -> str:
        return _pointer(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_placeholders(value, {"order_id", "user"})  # type: ignore[no-any-return]


class CaptureSection(Confirm):
    """Manual capture: how a confirm asks only to authorise, and how the money is taken.
    ``method``, ``path``, ``body`` and ``idempotency_header`` are the capture request's, with
    the confirm's rules (``{payment_method}`` is not offered in a capture body)."""

    path: str = "/api/orders/{order_id}/capture"
    confirm_body: dict[str, Any] = Field(default_factory=dict)
    """Merged into the confirm body when a scenario asks for manual capture (e.g.
    ``{capture_method = "manual"}``); empty when the checkout always captures manually."""
    authorized_pointer: str = "/status"
    """JSON pointer into the confirm's answer that tells an authorisation from a payment."""
    authorized_value: str | int | bool = "authorized"
    """Its value for "authorised, not taken": such an answer is not told as a success."""

    @field_validator("authorized_pointer")
    @classmethod
    def _pointers(cls, value: str) -> str:
        return _pointer(value)

    @field_validator("body", "confirm_body")
    @classmethod
    def _body(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_placeholders(value, {"order_id", "user", "key"})  # type: ignore[no-any-return]


class ApiSection(_Section):
    create_order: CreateOrder = Field(default_factory=CreateOrder)
    confirm: Confirm = Field(default_factory=Confirm)
    read_order: ReadOrder | None = None
    catalog_path: str | None = None
    capture: CaptureSection | None = None
    """Manual capture (authorise at confirm, take the money later); absent: not offered."""


class Selectors(_Section):
    add_to_cart: str | None = None
    """Clicked first when the shop has a cart step; omit when one button checks out."""
    checkout: str
    pay: str
    success: str
    in_progress: str | None = None
    """Shown while the checkout is still deciding (a "payment in progress" page)."""
    already_paid: str | None = None
    """Shown instead of the Pay control on the confirm page of an order already paid; a
    Pay control missing where this is not shown either is an error."""
    payment_method: str | None = None
    """Clicked to choose a card on the confirm page; placeholder ``{payment_method}``, the
    fake provider's payment method id (``pm_card_visa``). Declares ``choose_card``."""

    @field_validator("payment_method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None:
            _check_placeholders(value, {"payment_method"})
            if "{payment_method}" not in value:
                raise ValueError("must contain {payment_method}")
        return value


class PageRead(_Section):
    """Read an order's paid state from a page instead of a JSON API."""

    path: str
    """Page of one order; placeholder ``{order_id}``."""
    paid: str
    """Playwright selector present when the page shows the order paid."""
    unpaid: str
    """Playwright selector present when the page shows the order not paid (yet)."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        _check_placeholders(value, {"order_id"})
        if "{order_id}" not in value:
            raise ValueError("must contain {order_id}")
        return value


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"is not a regular expression ({exc})") from None
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
"""A profile field that must be a regular expression."""


class ThreeDSecure(_Section):
    """The checkout sends a customer whose card asks for 3-D Secure to the provider's
    challenge (``next_action.redirect_to_url``) and takes them back on its return page.
    Declares ``threeds``; needs ``selectors.payment_method`` to choose such a card."""

    return_url_regex: Regex | None = None
    """Matches the checkout's return page; it is then judged as a payment page (no-store)."""


class HostedCheckout(_Section):
    """The target's side of a payment on the provider's hosted page (Stripe Checkout): the
    control that sends the customer there, and the page the provider sends them back to."""

    pay: str
    """Playwright selector of the control (on the confirm page) that leads to the
    provider's hosted payment page."""
    success_url_regex: Regex
    """Matches the URL of the target's page the provider redirects to after paying."""


class BrowserSection(_Section):
    entry_path: str = "/shop"
    selectors: Selectors
    success_url_regex: Regex
    confirm_url_regex: Regex
    """Matches the confirm page's URL; its named group ``order_id`` reads the order id."""
    confirm_path: str = "/checkout/{order_id}"
    """Opens the confirm page of an order (a second tab, say)."""
    spa_entry_path: str | None = None
    spa_confirm_url_regex: Regex | None = None
    spa_confirm_path: str | None = None
    read_order: PageRead | None = None
    threeds: ThreeDSecure | None = None
    hosted: HostedCheckout | None = None
    """Payments on the provider's hosted page (capability ``hosted_checkout``)."""

    @field_validator("confirm_path", "spa_confirm_path")
    @classmethod
    def _confirm_path(cls, value: str | None) -> str | None:
        if value is not None:
            _check_placeholders(value, {"order_id"})
        return value

    @model_validator(mode="after")
    def _spa_complete(self) -> BrowserSection:
        spa = (self.spa_entry_path, self.spa_confirm_url_regex, self.spa_confirm_path)
        if any(spa) and not all(spa):
            raise ValueError(
                "spa_entry_path, spa_confirm_url_regex and spa_confirm_path go together"
            )
        if self.threeds is not None and self.selectors.payment_method is None:
            raise ValueError("[browser.threeds] needs selectors.payment_method to choose a card")
        return self


class WebhooksSection(_Section):
    path: str
    secret: str


class ProcessSection(_Section):
    start: list[str] = Field(min_length=1)
    """argv that starts the checkout (it must stay in the foreground)."""
    stop: list[str] | None = None
    """argv that kills it; by default the harness SIGKILLs the process group it started."""
    health_url: str | None = None
    """Polled until it answers below 500 after a (re)start; default ``base_url``."""
    env: dict[str, str] = Field(default_factory=dict)


def _money_only() -> list[Severity]:
    return ["money"]


class TargetProfile(_Section):
    name: str = Field(min_length=1)
    base_url: str
    provider: ProviderSection = Field(default_factory=ProviderSection)
    session: SessionSection
    api: ApiSection | None = None
    browser: BrowserSection | None = None
    webhooks: WebhooksSection | None = None
    process: ProcessSection | None = None
    reconcile_window_s: float | None = Field(default=None, gt=0)
    gate: list[Severity] = Field(default_factory=_money_only, min_length=1)
    """Which failures fail the run: ``money`` always, ``hygiene`` when asked."""

    @field_validator("gate")
    @classmethod
    def _gate(cls, value: list[Severity]) -> list[Severity]:
        if "money" not in value:
            raise ValueError("must include 'money': money failures always fail the run")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if value == AUTO:
            return value
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("is not 'auto' or an http(s) URL")
        return value.rstrip("/")

    def capabilities(self) -> frozenset[Capability]:
        """What scenarios may ask of this target, derived from what it declares."""
        caps: set[Capability] = {"provider_faults"}
        if self.api is not None:
            caps.add("api")
            if self.api.confirm.idempotency_header:
                caps.add("idempotency_key")
            if "payment_method" in placeholders(self.api.confirm.body):
                caps.add("payment_method")
            if self.api.capture is not None:
                caps.add("capture")
        if self.browser is not None:
            caps.add("browser")
            if self.browser.spa_entry_path:
                caps.add("browser_spa")
        if self.api is not None or self.browser is not None:
            caps.add("network_faults")
        if self.process is not None or self.base_url == AUTO:
            caps.add("process")
        if self.webhooks is not None:
            caps.add("webhooks")
        if (self.api is not None and self.api.read_order is not None) or (
            self.browser is not None and self.browser.read_order is not None
        ):
            caps.add("read_order")
        if self.browser is not None and self.browser.selectors.payment_method is not None:
            caps.add("choose_card")
            if self.browser.threeds is not None:
                caps.add("threeds")
        if self.browser is not None and self.browser.hosted is not None:
            caps.add("hosted_checkout")
        return frozenset(caps)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found
    return None


def _allowed_fields(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        info = fields.get(part)
        current = _submodel(info.annotation) if info else None
    if current is None:
        return []
    return sorted(f.alias or n for n, f in current.model_fields.items())


def _show(value: Any, sep: str) -> str:
    return f"{value!r}{sep}" if not isinstance(value, dict | list) else ""


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line for the first error: the field, its value and what is allowed."""
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(model, tuple(err["loc"])))
        line = f"{loc}: unknown field; allowed: {allowed}"
    elif kind == "missing":
        line = f"{loc}: required field is missing"
    elif kind == "literal_error":
        names = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        line = f"{loc}: {value!r} is not one of {', '.join(names)}"
    else:
        message = str(err["msg"])
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
            line = f"{loc}: {_show(value, ' ')}{message}"
        else:
            line = f"{loc}: {_show(value, ': ')}{message}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more)"
    return line


def parse_profile(
    data: dict[str, Any], source: str = "<profile>", environ: Mapping[str, str] | None = None
) -> TargetProfile:
    """Fill ``${VAR}`` and ``auto`` ports (:mod:`harness._profile_env`) from ``environ`` (by
    default the process's), then validate; :class:`ProfileError` names the first bad field."""
    try:
        data = prepare(data, os.environ if environ is None else environ)
    except EnvError as exc:
        raise ProfileError(f"{source}: {exc}") from None
    try:
        return TargetProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{source}: {describe(exc, TargetProfile)}") from None


def load_profile(path: str | Path) -> TargetProfile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such target profile") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return parse_profile(data, str(path))
