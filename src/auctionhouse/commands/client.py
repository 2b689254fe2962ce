"""The client verbs: ``account``, ``login``, ``logout``, ``sell``, ``list``, ``show``, ``bid``,
``watch``, ``cancel`` (docs/cli.md). Each talks to ``--house URL`` (``AUCTIONHOUSE_HOUSE``, default
http://127.0.0.1:8000) through the sync SDK, as the account last logged in there (or
``--account NAME``), with credentials kept in the user config dir (``AUCTIONHOUSE_CONFIG_DIR``).

Passwords are prompted (hidden) or read from stdin with ``--password-stdin``, never taken as an
argument. Amounts are integers of minor units (cents). Errors are one ``error: code: message``
line and exit 2 (cli.py); ``--json`` prints the API's own JSON for programs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from auctionhouse.client.text import safe_text
from auctionhouse.errors import AuctionhouseError, InvalidRequest

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


def _console() -> Any:
    from rich.console import Console

    return Console()


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


def parse_time(option: str, text: str) -> float:
    """Epoch seconds, or an ISO 8601 date-time (local time when it has no offset)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"{option} takes epoch seconds or an ISO time like 2030-01-31T18:00, not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


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
    start_price: int | None,
    reserve: int | None,
    increment: int | None,
    decrement: int | None,
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
    floor: int | None = None,
) -> dict[str, Any]:
    """The ``rules`` object of a new auction from ``sell``'s options (the house checks them)."""
    if duration is not None and closes_at is not None:
        raise InvalidRequest("give --duration or --closes-at, not both")
    rules: dict[str, Any] = {
        "starting_price": start_price,
        "reserve_price": reserve,
        "min_increment": increment,
        "decrement": decrement,
        "floor_price": floor,
        "tick_seconds": _num(parse_seconds("--tick", tick)) if tick else None,
        "duration": _num(parse_seconds("--duration", duration)) if duration else None,
        "closes_at": parse_time("--closes-at", closes_at) if closes_at else None,
        "opens_at": parse_time("--opens-at", opens_at) if opens_at else None,
        "quiet_seconds": _num(parse_seconds("--quiet", quiet)) if quiet else None,
        "soft_close": parse_soft_close(soft_close) if soft_close else None,
        "expected_bids": expected_bids,
        "min_bidders": min_bidders,
        "max_bidders": max_bidders,
        "signed_bids": True if signed else None,
    }
    return {k: v for k, v in rules.items() if v is not None}


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
    if json_out:
        _print_json({"account": account, "expires_at": session.get("expires_at")})
        return
    print(safe_text(f"created account {account.get('id', name)} on {url} and logged in"))
    if key is not None:
        print(safe_text(f"bid key {key.path} (public key {key.public_key})"))


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
    if json_out:  # never the token: it is kept in the credentials file, not printed
        _print_json({k: v for k, v in session.items() if k != "token"})
        return
    signing = f", signing bids with {key.path}" if key is not None else ""
    print(safe_text(f"logged in to {url} as {name}{signing}"))


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


def account_show(house: HouseOpt = None, account: AccountOpt = None) -> None:
    """The logged-in account, its public key and reputation (JSON)."""
    with _client(house, account, login=True) as client:
        _print_json(client.me())


# --------------------------------------------------------------------------- auctions


def sell(
    item: Annotated[str, typer.Option("--item", help="What is sold.", show_default=False)],
    method: Annotated[
        str, typer.Option("--method", help="english, dutch, fpsb or vickrey.", show_default=False)
    ],
    description: Annotated[str | None, typer.Option("--description")] = None,
    start_price: Annotated[int | None, typer.Option("--start-price", help="Minor units.")] = None,
    reserve: Annotated[int | None, typer.Option("--reserve", help="Secret minimum price.")] = None,
    increment: Annotated[
        int | None, typer.Option("--increment", help="English: minimum raise.")
    ] = None,
    decrement: Annotated[
        int | None, typer.Option("--decrement", help="Dutch: price drop per tick.")
    ] = None,
    tick: Annotated[str | None, typer.Option("--tick", help="Dutch: tick interval.")] = None,
    floor: Annotated[
        int | None, typer.Option("--floor", help="Dutch: the clock's public floor (default 1).")
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Closes after this long (90s, 5m, 1h).")
    ] = None,
    closes_at: Annotated[
        str | None, typer.Option("--closes-at", help="Closes at (epoch or ISO time).")
    ] = None,
    opens_at: Annotated[
        str | None, typer.Option("--opens-at", help="Opens at (default: now).")
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
    """Put an item up for auction."""
    method = _choice("--method", method, METHODS)
    uploads = _read_photos(photo or [])
    rules = build_rules(
        start_price=start_price,
        reserve=reserve,
        increment=increment,
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
    )
    with _client(house, account, login=True) as client:
        digests = []
        for name, data in uploads:
            try:
                digests.append(client.upload_photo(data)["photo"])
            except AuctionhouseError as exc:
                exc.message = f"{name}: {exc.message}"
                raise
        view = client.create_auction(item, method, rules, description=description, photos=digests)
    if json_out:
        _print_json(view)
        return
    print(safe_text(f"auction {view.get('id')}: {method} auction of {item!r}, {view.get('state')}"))


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
        now = client.time()
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
        now = client.time()
    from auctionhouse.client.render import auction_panel

    _console().print(auction_panel(view, events, now))


def bid(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    amount: Annotated[int, typer.Argument(help="Minor units (an accept in a Dutch auction).")],
    proxy_max: Annotated[
        int | None, typer.Option("--proxy-max", help="English: the house bids for you up to this.")
    ] = None,
    ws: Annotated[bool, typer.Option("--ws", help="Send the bid over the WebSocket.")] = False,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Place a bid, signed with your key when you have one."""
    with _client(house, account, login=True) as client:
        ack = client.bid(auction_id, amount, proxy_max=proxy_max, via="ws" if ws else "http")
        me = client.account
    if json_out:
        _print_json(ack)
        return
    parts = [f"bid accepted in auction {ack.get('auction', auction_id)} (seq {ack.get('seq')})"]
    if ack.get("price") is not None:
        parts.append(f"price {ack['price']}")
    if ack.get("leader") is not None:
        leader = ack["leader"]
        parts.append("you lead" if leader == me else f"leader {leader}")
    if ack.get("result"):
        from auctionhouse.client.render import result_line

        parts.append(result_line({"result": ack["result"]}) or "")
    print(safe_text(", ".join(p for p in parts if p)))


def cancel(
    auction_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    house: HouseOpt = None,
    account: AccountOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel your auction (before its first bid)."""
    with _client(house, account, login=True) as client:
        view = client.cancel(auction_id, reason)
    if json_out:
        _print_json(view)
        return
    print(safe_text(f"auction {view.get('id', auction_id)} cancelled"))


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
    from auctionhouse.client.render import LiveAuction

    with _client(house, account, login=False) as client:
        client.time()
        stream = client.watch([auction_id], until_closed=True, give_up_after=give_up)
        if json_out:
            for message in stream:
                print(json.dumps(message, sort_keys=True), flush=True)
            return
        from rich.live import Live

        live = LiveAuction(client.server_now)
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
    app.command("sell")(sell)
    app.command("list")(list_auctions)
    app.command("show")(show)
    app.command("bid")(bid)
    app.command("watch")(watch)
    app.command("cancel")(cancel)
