"""The words of the classic line protocol (seed 003), shared by the server and the line client.

Every line the seed's transcripts show is quoted here verbatim; lines the seed does not show
(disconnects, shutdown, input at the wrong moment) are ours and say so. The seller's request and
the buyers' bids are parsed here once, so the server and the client refuse the same input with
the same reason.

Amounts on the wire are whole dollars, as in the seed; the house keeps cents (DESIGN.md section 2:
money is an integer number of minor units), so ``$150`` is recorded as ``15000``.
"""

from __future__ import annotations

from dataclasses import dataclass

from auctionhouse.errors import InvalidRequest

# --- from the seed's transcripts ---------------------------------------------------------------
CONNECTED = "Connected to the Auctioneer server."
ROLE_SELLER = "Your role is: [Seller]"
ROLE_BUYER = "Your role is: [Buyer]"
REQUEST_PROMPT = "Please submit auction request:"
INVALID_REQUEST = "Invalid auction request!"  # the server sends "Server: " + this + a reason
AUCTION_START = "Server: Auction start."
BUSY = "Server is busy. Try to connect again later."
TOO_MANY = "Server: Too many connections. Try to connect again later."
IDLE = "Server: No answer for {seconds} seconds. Disconnecting."
WAITING_FOR_BUYERS = "The Auctioneer is still waiting for other Buyers to connect..."
BIDDING_STARTED = "The bidding has started!"
BID_PROMPT = "Please submit your bid:"
INVALID_BID = "Invalid bid. Please submit a positive integer!"  # the server adds "Server: "
BID_RECEIVED = "Server: Bid received. Please wait..."
SELLER_FINISHED = "Auction finished!"
BUYER_FINISHED = "Server: Auction finished!"
SELLER_SOLD = "Success! Your item {item} has been sold for {price}."
SELLER_NOT_SOLD = "Unfortunately, your item was not sold as all bids were below the minimum price."
WINNER = "You won the item '{item}'! Your payment due is {price}"
LOSER = "Unfortunately you did not win in the last round."
GOODBYE = "Disconnecting from the Auctioneer server. Auction is over!"

# --- ours: what the seed leaves unsaid ---------------------------------------------------------
BUYER_NOT_SOLD = "Unfortunately, the item was not sold as all bids were below the minimum price."
NOT_YET = "Server: The bidding has not started yet. Please wait..."
ALREADY_BID = "Server: Your bid is already in. Please wait..."
SELLER_WAIT = "Server: Your auction is under way. Please wait..."
SELLER_LEFT = "Server: The Seller disconnected before the bidding. The auction is cancelled."
BUYER_LEFT = "Server: A Buyer disconnected before bidding. The auction is cancelled."
SHUTTING_DOWN = "Server: The Auctioneer is shutting down."
FAILED = "Server: The Auctioneer hit an error. The auction is cancelled."
CANCELLED = "The auction is cancelled."

# Limits the seed leaves open (docs/classic.md).
MAX_LINE = 1024  # bytes in one input line
MAX_BUYERS = 100  # #bids in one request
MAX_ITEM = 100  # characters of an item name
MAX_AMOUNT = 10**12  # dollars in a minimum price or a bid
CENTS = 100

FIRST_PRICE = 1
SECOND_PRICE = 2
METHODS = {FIRST_PRICE: "fpsb", SECOND_PRICE: "vickrey"}


@dataclass(frozen=True, slots=True)
class AuctionRequest:
    """A seller's ``type min_price #bids name``: type 1 first-price, 2 second-price."""

    kind: int
    min_price: int
    buyers: int
    item: str

    @property
    def method(self) -> str:
        return METHODS[self.kind]

    def rules(self) -> dict[str, int]:
        """The house rules of this request: the minimum price is the reserve (none for 0), the
        auction closes when #bids bids are in, and every bid is at least $1."""
        rules = {
            "starting_price": CENTS,
            "expected_bids": self.buyers,
            "max_bidders": self.buyers,
        }
        if self.min_price > 0:
            rules["reserve_price"] = self.min_price * CENTS
        return rules


def _whole_number(text: str, what: str, minimum: int, maximum: int) -> int:
    if not text.isascii() or not text.isdigit():
        raise InvalidRequest(f"{what} must be a whole number, not {text!r}")
    value = int(text)
    if value < minimum:
        raise InvalidRequest(f"{what} must be at least {minimum}")
    if value > maximum:
        raise InvalidRequest(f"{what} must be at most {maximum}")
    return value


def _refuse_request(reason: str) -> InvalidRequest:
    return InvalidRequest(f"{INVALID_REQUEST} {reason}")


def parse_request(line: str | None) -> AuctionRequest:
    """Parse ``type min_price #bids name``; ``None`` stands for a line over ``MAX_LINE`` bytes.

    The name is the rest of the line (it may hold spaces). Raises ``InvalidRequest`` whose message
    is the refusal: ``Invalid auction request!`` and what is wrong."""
    if line is None:
        raise _refuse_request(f"The line is longer than {MAX_LINE} bytes.")
    parts = line.split(maxsplit=3)
    if len(parts) < 4:
        raise _refuse_request("Expected 'type min_price #bids name', e.g. '2 100 3 WolfPackSword'.")
    kind_text, price_text, buyers_text, item = parts
    if kind_text not in ("1", "2"):
        raise _refuse_request(
            f"The type must be 1 (first-price) or 2 (second-price), not {kind_text!r}."
        )
    try:
        min_price = _whole_number(price_text, "min_price", 0, MAX_AMOUNT)
        buyers = _whole_number(buyers_text, "#bids", 1, MAX_BUYERS)
    except InvalidRequest as exc:
        raise _refuse_request(f"The {exc.message}.") from None
    item = item.strip()
    if len(item) > MAX_ITEM:
        raise _refuse_request(f"The item name must be at most {MAX_ITEM} characters.")
    if not item.isprintable():
        raise _refuse_request("The item name must be printable text.")
    return AuctionRequest(int(kind_text), min_price, buyers, item)


def parse_bid(line: str | None) -> int:
    """A bid in whole dollars: a positive integer up to ``MAX_AMOUNT``. Raises ``InvalidRequest``
    whose message is the refusal (the seed's words, or the limit that was passed)."""
    if line is None:
        raise InvalidRequest(f"Invalid bid. The line is longer than {MAX_LINE} bytes.")
    text = line.strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise InvalidRequest(INVALID_BID)
    if int(text) > MAX_AMOUNT:
        raise InvalidRequest(f"Invalid bid. A bid must be at most ${MAX_AMOUNT}.")
    return int(text)


def dollars(cents: int) -> str:
    """``15000`` -> ``$150`` (``$150.25`` if it ever has cents)."""
    whole, part = divmod(cents, CENTS)
    return f"${whole}" if part == 0 else f"${whole}.{part:02d}"
