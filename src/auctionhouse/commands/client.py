"""The client verbs: ``account``, ``login``, ``logout``, ``sell``, ``list``, ``show``, ``bid``,
``watch``, ``cancel`` (docs/cli.md). Each talks to ``--house URL`` (``AUCTIONHOUSE_HOUSE``, default
http://127.0.0.1:8000) through the sync SDK, as the account last logged in there (or
``--account NAME``), with credentials kept in the user config dir (``AUCTIONHOUSE_CONFIG_DIR``).

Passwords are prompted (hidden) or read from stdin with ``--password-stdin``, never taken as an
argument. Amounts are typed as decimals of the house's currency (``10.50``; never more decimals
than the currency has) and shown with Babel's ``format_currency`` in the house's locale; the API
and ``--json`` keep integers of minor units. Times are typed as people write them (``2m``,
``'tomorrow 18:00'``, ``2030-01-31T18:00``) and shown as local times. Errors are one
``error: code: message`` line and exit 2 (cli.py); ``--json`` prints the API's own JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auctionhouse.client.text import safe_text
from auctionhouse.errors import AuctionhouseError, BidTooLow, InvalidRequest
from auctionhouse.money import DEFAULT_CURRENCY, parse_amount

if TYPE_CHECKING:
    from auctionhouse.client import Client
    from auctionhouse.client.keys import BidKey

METHODS = ("english", "dutch", "fpsb", "vickrey")
STATES = ("scheduled", "open", "paused", "closed")
SORTS = ("newest", "ending_soonest", "price_low", "price_high", "most_bids")  # house/listing.py

HouseOpt = Annotated[
    str | None,
    typer.Option(
        "--house",
        envvar="AUCTIONHOUSE_HOUSE",
        help="The house's URL (default http://127.0.0.1:8000).",
        show_default=False,
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option(
        "--account",
        envvar="AUCTIONHOUSE_ACCOUNT",
        help="Act as this logged-in account (default: the last login on this house).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first stdin line.")
]


# --------------------------------------------------------------------------- helpers


def _house(house: str | None) -> str:
    from auctionhouse.client import default_house, normalize_house

    return normalize_house(house or default_house())


def _client(house: str | None, account: str | None, *, login: bool) -> Client:
    """A sync client for ``house``, logged in as the stored profile (required if ``login``)."""
    from auctionhouse.client import Client
    from auctionhouse.client.profile import Credentials

    url = _house(house)
    credentials = Credentials()
    profile = credentials.require(url, account) if login else credentials.get(url, account)
    if profile is None or profile.token is None:
        return Client(url)
    client = Client(url, token=profile.token, account=profile.account)
    if login and profile.key_file:
        client.key = _load_key(profile.key_file)
    return client


def _load_key(path: str | Path) -> BidKey:
    from auctionhouse.client import BidKey

    return BidKey.load(Path(path).expanduser())


def _password(from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=confirm)
    if not password:
        raise InvalidRequest("the password is empty")
    return password


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _answer(answer: Any, json_out: bool, line: Callable[[Any], str | list[str]]) -> None:
    """Print a verb's answer: the JSON itself with ``--json``, else the line (or the list of
    lines) ``line`` makes of it, each made safe for a terminal (a newline inside one is shown
    escaped, never printed as a forged line)."""
    if json_out:
        _print_json(answer)
        return
    text = line(answer)
    for row in [text] if isinstance(text, str) else text:
        print(safe_text(row))


def _act(
    house: str | None,
    account: str | None,
    json_out: bool,
    call: Callable[[Client], Any],
    line: Callable[[Any], str | list[str]],
) -> None:
    """The shape of a verb that changes one thing: log in, ``call`` the house once, then
    print its answer (``_answer``)."""
    with _client(house, account, login=True) as client:
        answer = call(client)
    _answer(answer, json_out, line)


def _console() -> Any:
    from rich.console import Console

    return Console()


def _house_money(client: Client) -> dict[str, Any]:
    """The house's currency, locale and time (``GET /house``); amounts print in its locale."""
    from auctionhouse.client.render import use_locale

    info = client.house_info()
    use_locale(str(info.get("locale") or "en"))
    return info


def _money(minor: object, currency: str) -> str:
    from auctionhouse.client.render import money

    return money(minor, currency)


_DURATION = re.compile(r"(\d+(?:\.\d*)?)\s*([smhd]?)")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_seconds(option: str, text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h30m``, ``2d`` -> seconds (positive)."""
    spec = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    while pos < len(spec):
        match = _DURATION.match(spec, pos)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not spec or pos != len(spec) or total <= 0:
        raise InvalidRequest(f"{option} takes a duration like 90, 90s, 5m or 1h30m, not {text!r}")
    return total


def parse_time(option: str, text: str, now: float | None = None) -> float:
    """A time as people write it -> epoch seconds (``now``: the house's time, default the
    local clock).

    ``2m``, ``1h30m``, ``in 2 minutes``: that long after ``now``; ``now``; an ISO 8601 date-time
    (``2030-01-31T18:00``, local time when it has no offset); anything dateparser reads, in the
    future (``tomorrow 18:00``, ``friday 9am``, ``31 Jan 2030 18:00``); epoch seconds (scripts).
    Raises ``InvalidRequest`` naming ``option`` with examples of what it takes.
    """
    import time

    base = time.time() if now is None else now
    spec = text.strip()
    low = spec.lower()
    if low == "now":
        return base
    relative = low.removeprefix("in ").removeprefix("+").strip()
    if relative and relative[0].isdigit() and not relative.replace(".", "", 1).isdigit():
        try:
            return base + parse_seconds(option, relative)
        except InvalidRequest:
            pass  # "31 Jan 2030" starts with a digit too: let the date parsers try
    try:
        return float(spec)
    except ValueError:
        pass
    moment: dt.datetime | None
    try:
        moment = dt.datetime.fromisoformat(spec)
    except ValueError:
        moment = _parse_words(spec, base)
    if moment is None:
        raise InvalidRequest(
            f"{option} takes a time like 2m, 1h30m, 'tomorrow 18:00' or 2030-01-31T18:00,"
            f" not {text!r}"
        )
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


def _parse_words(text: str, now: float) -> dt.datetime | None:
    """A time in words (``tomorrow 18:00``) with dateparser, relative to ``now``, in the
    future when ambiguous; None when it reads no time. (A well-kept parser of many languages'
    dates: writing our own would be a worse one.)"""
    import warnings

    import dateparser

    base = dt.datetime.fromtimestamp(now).astimezone()
    with warnings.catch_warnings():  # dateparser warns about its own time zone internals
        warnings.simplefilter("ignore")
        moment = dateparser.parse(
            text,
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": base.replace(tzinfo=None),
                "RETURN_AS_TIMEZONE_AWARE": False,
            },
        )
    return moment if isinstance(moment, dt.datetime) else None


def parse_soft_close(text: str) -> dict[str, float]:
    parts = text.split(",")
    if len(parts) != 3:
        raise InvalidRequest(
            f"--soft-close takes WINDOW,EXTENSION,CAP (e.g. 30,30,300), not {text!r}"
        )
    window, extension, cap = (parse_seconds("--soft-close", p) for p in parts)
    return {"window": _num(window), "extension": _num(extension), "cap": _num(cap)}


def _num(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    low = value.lower()
    if low not in allowed:
        raise InvalidRequest(f"{option} must be one of {', '.join(allowed)}, not {value!r}")
    return low


def build_rules(
    *,
    start_price: str | None,
    reserve: str | None,
    increment: str | None,
    decrement: str | None,
    tick: str | None,
    duration: str | None,
    closes_at: str | None,
    opens_at: str | None,
    quiet: str | None,
    soft_close: str | None,
    expected_bids: int | None,
    min_bidders: int | None,
    max_bidders: int | None,
    signed: bool,
    floor: str | None = None,
    increment_table: str | None = None,
    increment_percent: float | None = None,
    bids_are_maxima: bool | None = None,
    currency: str = DEFAULT_CURRENCY,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``rules`` object of a new auction from ``sell``'s options (the house checks them).

    Amounts are decimals of ``currency`` (``"10.50"``) turned into minor units exactly; times
    are read by ``parse_time`` relative to ``now`` (the house's time)."""
    if duration is not None and closes_at is not None:
        raise InvalidRequest("give --duration or --closes-at, not both")

    def amount(option: str, text: str | None) -> int | None:
        return None if text is None else parse_amount(text, currency, field=option)

    rules: dict[str, Any] = {
        "starting_price": amount("--start-price", start_price),
        "reserve_price": amount("--reserve", reserve),
        "min_increment": amount("--increment", increment),
        "increment_table": (
            parse_increment_table(increment_table, currency) if increment_table else None
        ),
        "increment_percent": _num(increment_percent) if increment_percent is not None else None,
        "bids_are_maxima": bids_are_maxima,
        "decrement": amount("--decrement", decrement),
        "floor_price": amount("--floor", floor),
        "tick_seconds": _num(parse_seconds("--tick", tick)) if tick else None,
        "duration": _num(parse_seconds("--duration", duration)) if duration else None,
        "closes_at": parse_time("--closes-at", closes_at, now) if closes_at else None,
        "opens_at": parse_time("--opens-at", opens_at, now) if opens_at else None,
        "quiet_seconds": _num(parse_seconds("--quiet", quiet)) if quiet else None,
        "soft_close": parse_soft_close(soft_close) if soft_close else None,
        "expected_bids": expected_bids,
        "min_bidders": min_bidders,
        "max_bidders": max_bidders,
        "signed_bids": True if signed else None,
    }
    return {k: v for k, v in rules.items() if v is not None}


def parse_increment_table(text: str, currency: str) -> list[dict[str, Any]]:
    """``--increment-table "1:0.05,5:0.25,*:0.50"``: under 1.00 raise by 0.05, under 5.00 by
    0.25, above by 0.50 (decimals of ``currency``) -> the rules' ``increment_table``."""
    bands: list[dict[str, Any]] = []
    for part in text.split(","):
        below, sep, step = part.strip().partition(":")
        if not sep:
            raise InvalidRequest(
                f"--increment-table takes BELOW:INCREMENT bands like 1:0.05,5:0.25,*:0.50,"
                f" not {part.strip()!r}"
            )
        band: dict[str, Any] = {
            "increment": parse_amount(step, currency, field="--increment-table increment")
        }
        if below.strip() not in ("*", ""):
            band["below"] = parse_amount(below, currency, field="--increment-table price")
        bands.append(band)
    return bands


# --------------------------------------------------------------------------- accounts


def account_create(
    name: Annotated[str, typer.Argument(help="The account name.")],
    password_stdin: PasswordStdin = False,
    no_key: Annotated[
        bool, typer.Option("--no-key", help="Do not generate a bid key (unsigned bids only).")
    ] = False,
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help="Where to keep the bid key (or an existing PEM key)."),
    ] = None,
    house: HouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an account (with an Ed25519 bid key, registered) and log in as it."""
    from auctionhouse.client import BidKey, Client
    from auctionhouse.client.profile import default_key_path

    url = _house(house)
    password = _password(password_stdin, confirm=True)
    key: BidKey | None = None
    path = key_file.expanduser() if key_file else default_key_path(url, name)
    if not no_key:
        key = _load_key(path) if path.exists() else BidKey.generate()
    with Client(url) as client:
        account = client.create_account(
            name, password, public_key=key.public_key if key is not None else None
        )
        if key is not None and key.path is None:
            key.save(path)
        session = _log_in(client, url, name, password, key)
    lines = [f"created account {account.get('id', name)} on {url} and logged in"]
    if key is not None:
        lines.append(f"bid key {key.path} (public key {key.public_key})")
    answer = {"account": account, "expires_at": session.get("expires_at")}
    _answer(answer, json_out, lambda _: lines)


def _log_in(client: Client, url: str, name: str, password: str, key: BidKey | None) -> Any:
    from auctionhouse.client.profile import Credentials, Profile

    session = client.login(name, password)
    expires = session.get("expires_at")
    Credentials().save(
        Profile(
            url,
            client.account or name,
            client.token,
            str(key.path) if key is not None and key.path is not None else None,
            float(expires) if isinstance(expires, int | float) else None,
        )
    )
    return session


def login(
    name: Annotated[str, typer.Argument(help="The account name.")],
    password_stdin: PasswordStdin = False,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Sign bids with this PEM key file.")
    ] = None,
    house: HouseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Log in (a session token kept in the user config dir); later verbs act as this account."""
    from auctionhouse.client import Client
    from auctionhouse.client.profile import Credentials, default_key_path

    url = _house(house)
    password = _password(password_stdin, confirm=False)
    key = None
    if key_file is not None:
        key = _load_key(key_file)
    else:
        known = Credentials().get(url, name)
        candidate = known.key_file if known and known.key_file else None
        default = default_key_path(url, name)
        if candidate is None and default.exists():
            candidate = str(default)
        if candidate is not None:
            key = _load_key(candidate)
    with Client(url) as client:
        session = _log_in(client, url, name, password, key)
    signing = f", signing bids with {key.path}" if key is not None else ""
    _answer(  # never the token: it is kept in the credentials file, not printed
        {k: v for k, v in session.items() if k != "token"},
        json_out,
        lambda _: f"logged in to {url} as {name}{signing}",
    )


def logout(
    everywhere: Annotated[
        bool, typer.Option("--all", help="End every session of the account, on every device.")
    ] = False,
    house: HouseOpt = None,
    account: AccountOpt = None,
) -> None:
    """Log out: the house revokes the session's token (and closes its WebSockets), and the
    token is removed from the credentials file."""
    from auctionhouse.client.profile import Credentials
    from auctionhouse.errors import Unauthorized

    credentials = Credentials()
    with _client(house, account, login=True) as client:
        name = client.account or ""
        try:
            revoked = client.logout(everywhere=everywhere).get("revoked", 0)
        except Unauthorized:
            revoked = 0  # expired or revoked already: nothing left to end on the house
        credentials.forget_token(client.house, name)
    where = "every session" if everywhere else "this session"
    print(f"logged out {name} from {client.house} ({where}; {revoked} revoked)")


def account_password(
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the current, then the new password from stdin lines."
        ),
    ] = False,
    house: HouseOpt = None,
    account: AccountOpt = None,
) -> None:
    """Change the account's password. Every session of the account ends (other devices are
    logged out); this one continues on a new session."""
    from auctionhouse.client.profile import Credentials, Profile

    if password_stdin:
        current = sys.stdin.readline().rstrip("\r\n")
        new = sys.stdin.readline().rstrip("\r\n")
    else:
        current = typer.prompt("current password", hide_input=True)
        new = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    if not current or not new:
        raise InvalidRequest("the password is empty")
    credentials = Credentials()
    with _client(house, account, login=True) as client:
        name = client.account or ""
        session = client.change_password(current, new)
        stored = credentials.require(client.house, name)
        expires = session.get("expires_at")
        credentials.save(
            Profile(
                client.house,
                name,
                client.token,
                stored.key_file,
                float(expires) if isinstance(expires, int | float) else None,
            ),
            make_current=False,
        )
    print(f"changed the password of {name}; every other session of it has ended")


def account_key(
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="Use (or create) this PEM key file.")
    ] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
) -> None:
    """Generate (or load) a bid key and register it for the logged-in account."""
    from auctionhouse.client import BidKey
    from auctionhouse.client.profile import Credentials, Profile, default_key_path

    with _client(house, account, login=True) as client:
        name = client.account or ""
        path = key_file.expanduser() if key_file else default_key_path(client.house, name)
        key = _load_key(path) if path.exists() else BidKey.generate(path)
        client.register_key(key.public_key)
        credentials = Credentials()
        stored = credentials.require(client.house, name)
        credentials.save(
            Profile(client.house, name, stored.token, str(path), stored.expires_at),
            make_current=False,
        )
    print(safe_text(f"registered bid key {path} (public key {key.public_key}) for {name}"))


def account_show(
    house: HouseOpt = None, account: AccountOpt = None, json_out: JsonOpt = False
) -> None:
    """The logged-in account: name, role, bid key, reputation, session."""
    from auctionhouse.client.profile import Credentials

    with _client(house, account, login=True) as client:
        me = client.me()
        url = client.house
        profile = Credentials().get(url, client.account)
    if json_out:
        _print_json(me)
        return
    from auctionhouse.client.render import account_table

    _console().print(account_table(me, url, profile.expires_at if profile else None))


def whoami(house: HouseOpt = None, account: AccountOpt = None) -> None:
    """Who you are on the house: the account later verbs act as, and its role."""
    with _client(house, account, login=True) as client:
        me = client.me()
        url = client.house
    role = me.get("role") or "user"
    key = "a bid key registered" if me.get("public_key") else "no bid key"
    print(safe_text(f"{me.get('id') or client.account} on {url} ({role}, {key})"))


# --------------------------------------------------------------------------- auctions


def sell(
    item: Annotated[str, typer.Option("--item", help="What is sold.", show_default=False)],
    method: Annotated[
        str, typer.Option("--method", help="english, dutch, fpsb or vickrey.", show_default=False)
    ],
    description: Annotated[str | None, typer.Option("--description")] = None,
    start_price: Annotated[
        str | None, typer.Option("--start-price", help="The first bid's least amount (10.50).")
    ] = None,
    reserve: Annotated[str | None, typer.Option("--reserve", help="Secret minimum price.")] = None,
    increment: Annotated[
        str | None, typer.Option("--increment", help="English: the least raise (0.50).")
    ] = None,
    increment_table: Annotated[
        str | None,
        typer.Option(
            "--increment-table",
            help="English: raises by price band, BELOW:INCREMENT,... (1:0.05,5:0.25,*:0.50).",
        ),
    ] = None,
    increment_percent: Annotated[
        float | None,
        typer.Option("--increment-percent", help="English: the least raise, in % of the price."),
    ] = None,
    bids_are_maxima: Annotated[
        bool | None,
        typer.Option(
            "--bids-are-maxima/--plain-bids",
            help="English: every bid is a maximum (the house bids for you only what is needed)."
            " Default: the house's setting.",
            show_default=False,
        ),
    ] = None,
    decrement: Annotated[
        str | None, typer.Option("--decrement", help="Dutch: price drop per tick (0.10).")
    ] = None,
    tick: Annotated[str | None, typer.Option("--tick", help="Dutch: tick interval.")] = None,
    floor: Annotated[
        str | None, typer.Option("--floor", help="Dutch: the clock's public floor.")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Closes after this long (90s, 5m, 1h).")
    ] = None,
    closes_at: Annotated[
        str | None,
        typer.Option("--closes-at", help="Closes at: 2h, 'tomorrow 18:00', 2030-01-31T18:00."),
    ] = None,
    opens_at: Annotated[
        str | None, typer.Option("--opens-at", help="Opens at: 2m, 'friday 9am'... (now).")
    ] = None,
    quiet: Annotated[
        str | None, typer.Option("--quiet", help="English: closes after this long with no bid.")
    ] = None,
    soft_close: Annotated[
        str | None,
        typer.Option("--soft-close", help="English: WINDOW,EXTENSION,CAP seconds."),
    ] = None,
    expected_bids: Annotated[
        int | None, typer.Option("--expected-bids", help="Sealed: close when this many are in.")
    ] = None,
    min_bidders: Annotated[int | None, typer.Option("--min-bidders")] = None,
    max_bidders: Annotated[int | None, typer.Option("--max-bidders")] = None,
    signed: Annotated[bool, typer.Option("--signed", help="Accept signed bids only.")] = False,
    photo: Annotated[
        list[Path] | None,
        typer.Option(
            "--photo", help="A photo of the item (JPEG, PNG or WebP, 5 MB at most); up to 8."
        ),
    ] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Put an item up for auction (amounts in the house's currency, times as you write them)."""
    method = _choice("--method", method, METHODS)
    uploads = _read_photos(photo or [])
    with _client(house, account, login=True) as client:
        info = _house_money(client)
        rules = build_rules(
            start_price=start_price,
            reserve=reserve,
            increment=increment,
            increment_table=increment_table,
            increment_percent=increment_percent,
            bids_are_maxima=bids_are_maxima,
            decrement=decrement,
            tick=tick,
            floor=floor,
            duration=duration,
            closes_at=closes_at,
            opens_at=opens_at,
            quiet=quiet,
            soft_close=soft_close,
            expected_bids=expected_bids,
            min_bidders=min_bidders,
            max_bidders=max_bidders,
            signed=signed,
            currency=str(info["currency"]),
            now=float(info["now"]),
        )
        digests = []
        for name, data in uploads:
            try:
                digests.append(client.upload_photo(data)["photo"])
            except AuctionhouseError as exc:
                exc.message = f"{name}: {exc.message}"
                raise
        view = client.create_auction(item, method, rules, description=description, photos=digests)
    _answer(view, json_out, lambda v: sold_line(v, item))


def sold_line(view: dict[str, Any], item: str) -> str:
    """``sell``'s answer: the auction, its state and its times as local times."""
    from auctionhouse.client.render import when

    line = (
        f"auction {view.get('id')}: {view.get('method')} auction of {item!r}, {view.get('state')}"
    )
    if view.get("state") == "scheduled":
        line += f", opens at {when(view.get('opens_at'))}"
    due = view.get("close_due_at") or view.get("closes_at")
    if due:
        line += f", closes at {when(due)}"
    return line


def _read_photos(paths: list[Path]) -> list[tuple[str, bytes]]:
    """Each ``--photo`` file's name and bytes, read before anything is sent (a missing file
    stops the sale before an upload)."""
    if len(paths) > 8:
        raise InvalidRequest("an item has at most 8 photos")
    out = []
    for path in paths:
        try:
            out.append((str(path), path.read_bytes()))
        except OSError as exc:
            raise InvalidRequest(f"--photo {path}: {exc.strerror or exc}") from None
    return out


def list_auctions(
    state: Annotated[str | None, typer.Option("--state", help=", ".join(STATES))] = None,
    method: Annotated[str | None, typer.Option("--method", help=", ".join(METHODS))] = None,
    mine: Annotated[bool, typer.Option("--mine", help="Only the auctions you sell.")] = False,
    search: Annotated[
        str | None,
        typer.Option("--search", help="Words the item's name or description must have."),
    ] = None,
    sort: Annotated[str | None, typer.Option("--sort", help=", ".join(SORTS))] = None,
    seller: Annotated[str | None, typer.Option("--seller", help="Only this seller's.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List auctions, newest first (or --sort), optionally found by --search words."""
    state = _choice("--state", state, STATES) if state else None
    method = _choice("--method", method, METHODS) if method else None
    sort = _choice("--sort", sort, SORTS) if sort else None
    with _client(house, account, login=mine) as client:
        page = client.list_auctions(
            state=state,
            method=method,
            seller=client.account if mine else seller,
            limit=limit,
            search=search,
            sort=sort,
        )
        now = float(_house_money(client)["now"]) if not json_out else 0.0
    if json_out:
        _print_json(page)
        return
    from auctionhouse.client.render import auction_table

    _console().print(auction_table(page.get("auctions", []), now))


def show(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One auction: item, rules, price or clock, countdown, bids, result."""
    with _client(house, account, login=False) as client:
        view = client.auction(auction_id)
        if json_out:
            _print_json(view)
            return
        events = client.events(auction_id).get("events", [])
        now = float(_house_money(client)["now"])
    from auctionhouse.client.render import auction_panel

    _console().print(auction_panel(view, events, now))


def bid(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    amount: Annotated[
        str, typer.Argument(help="The amount, e.g. 10.50 (in a Dutch auction: an accept).")
    ],
    proxy_max: Annotated[
        str | None, typer.Option("--proxy-max", help="English: the house bids for you up to this.")
    ] = None,
    ws: Annotated[bool, typer.Option("--ws", help="Send the bid over the WebSocket.")] = False,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Place a bid, signed with your key when you have one."""

    def amounts(client: Client, currency: str) -> tuple[int, int | None]:
        minor = parse_amount(amount, currency, field="amount")
        maximum = parse_amount(proxy_max, currency, field="--proxy-max") if proxy_max else None
        return minor, maximum

    _bid_and_say(house, account, json_out, auction_id, amounts, via="ws" if ws else "http")


def accept(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Take a Dutch auction at its current clock price (you pay the clock price when your
    accept arrives: never more than the price shown now)."""

    def clock_price(client: Client, currency: str) -> tuple[int, int | None]:
        view = client.auction(auction_id)
        if view.get("method") != "dutch":
            raise InvalidRequest(
                f"accept takes a Dutch auction at its clock price; auction {auction_id} is"
                f" {view.get('method')}: use bid {auction_id} AMOUNT"
            )
        price = view.get("price")
        if view.get("result") is not None or not isinstance(price, int):
            raise InvalidRequest(f"auction {auction_id} is {view.get('state')}: nothing to take")
        return price, None

    _bid_and_say(house, account, json_out, auction_id, clock_price, via="http")


def _bid_and_say(
    house: str | None,
    account: str | None,
    json_out: bool,
    auction_id: str,
    amounts: Callable[[Client, str], tuple[int, int | None]],
    *,
    via: str,
) -> None:
    """``bid`` and ``accept``: the amounts (from the house's currency), the bid, the answer."""
    with _client(house, account, login=True) as client:
        currency = str(_house_money(client)["currency"])
        amount, maximum = amounts(client, currency)
        ack = _place(client, auction_id, amount, maximum, via=via)
        me = client.account
    _answer(ack, json_out, lambda a: ack_line(a, auction_id, me, currency))


def _place(
    client: Client, auction_id: str, amount: int, proxy_max: int | None, *, via: str
) -> dict[str, Any]:
    """Place the bid; a ``bid_too_low`` comes back with its amount in the house's currency
    (and, for a Dutch auction, the clock price now and how to take it)."""
    try:
        return client.bid(auction_id, amount, proxy_max=proxy_max, via=via)  # type: ignore[arg-type]
    except BidTooLow as exc:
        minimum = exc.fields.get("minimum")
        if not isinstance(minimum, int):
            raise
        view = client.auction(auction_id)
        shown = _money(minimum, str(view.get("currency") or DEFAULT_CURRENCY))
        if view.get("method") == "dutch":
            message = (
                f"the clock price is {shown} now, above your {_money(amount, view['currency'])};"
                f" bid at least that, or take it with: auctionhouse accept {auction_id}"
            )
        elif "lead already" in exc.message:
            message = f"you lead already; a raise of your maximum must be at least {shown}"
        else:
            message = f"the next bid must be at least {shown}"
        raise BidTooLow(message, minimum=minimum) from None


def ack_line(ack: dict[str, Any], auction_id: str, me: str | None, currency: str) -> str:
    """A bid's answer in words: the price, who leads (``you lead``/``outbid``), the result."""
    from auctionhouse.client.render import result_line

    where = ack.get("auction", auction_id)
    result = ack.get("result")
    if result and result.get("winner") == me and result.get("outcome") == "sold":
        return f"you won auction {where} for {_money(result.get('price'), currency)}"
    parts = [f"bid accepted in auction {where} (seq {ack.get('seq')})"]
    if ack.get("price") is not None:
        parts.append(f"price {_money(ack['price'], currency)}")
    if ack.get("leader") is not None:
        leader = ack["leader"]
        if leader == me:
            parts.append("you lead")
        else:
            parts.append(f"outbid: {leader}'s maximum answered, {leader} leads")
    if result:
        parts.append(result_line({"result": result, "currency": currency}) or "")
    return ", ".join(p for p in parts if p)


def my_bids(
    state: Annotated[str | None, typer.Option("--state", help=", ".join(STATES))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The auctions you bid in (the page's "My bids"), with where you stand in each."""
    state = _choice("--state", state, STATES) if state else None
    with _client(house, account, login=True) as client:
        page = client.list_auctions(state=state, bidder=client.account, limit=limit)
        auctions = page.get("auctions", [])
        if json_out:
            _print_json(page)
            return
        views = [client.auction(str(v.get("id"))) for v in auctions]  # each with your part
        now = float(_house_money(client)["now"])
    from auctionhouse.client.render import my_bids_table

    _console().print(my_bids_table(views, now))


def cancel(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel your auction (before its first bid)."""
    _act(
        house,
        account,
        json_out,
        lambda c: c.cancel(auction_id, reason),
        lambda v: f"auction {v.get('id', auction_id)} cancelled",
    )


def watch(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    once: Annotated[bool, typer.Option("--once", help="Print the auction once and exit.")] = False,
    give_up: Annotated[
        float, typer.Option("--give-up", help="Seconds to keep reconnecting to a lost house.")
    ] = 60.0,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON message per line (with --once: the view).")
    ] = False,
) -> None:
    """Follow an auction live until it closes (reconnecting and catching up if the house drops)."""
    if give_up <= 0:
        raise InvalidRequest("--give-up must be positive")
    if once:
        show(auction_id, house=house, account=account, json_out=json_out)
        return
    from auctionhouse.client.render import LiveAuction, change_line

    with _client(house, account, login=False) as client:
        _house_money(client)
        me = client.account
        you = client.auction(auction_id).get("you") if me else None
        stream = client.watch([auction_id], until_closed=True, give_up_after=give_up)
        if json_out:
            for message in stream:
                print(json.dumps(message, sort_keys=True), flush=True)
            return
        live = LiveAuction(client.server_now, me, you)
        if not sys.stdout.isatty():  # a log or a pipe: one line per change, no redrawing
            for message in stream:
                live.update(message)
                line = change_line(message, live.view, live.you)
                if line:
                    print(safe_text(line), flush=True)
            return
        from rich.live import Live

        with Live(live, console=_console(), refresh_per_second=4) as screen:
            for message in stream:
                live.update(message)
                screen.refresh()


def register(app: typer.Typer) -> None:
    """Add the client verbs to the ``auctionhouse`` command."""
    account = typer.Typer(
        help="Accounts on a house: create, key, show, password.", no_args_is_help=True
    )
    account.command("create")(account_create)
    account.command("key")(account_key)
    account.command("show")(account_show)
    account.command("password")(account_password)
    app.add_typer(account, name="account")
    app.command("login")(login)
    app.command("logout")(logout)
    app.command("whoami")(whoami)
    app.command("sell")(sell)
    app.command("list")(list_auctions)
    app.command("show")(show)
    app.command("bid")(bid)
    app.command("accept")(accept)
    app.command("my-bids")(my_bids)
    app.command("watch")(watch)
    app.command("cancel")(cancel)
