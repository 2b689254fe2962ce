"""The agent host of a site: receives visiting agents, runs them, sends them on (seed 004).

Every house is a site. ``POST /api/v1/agents`` hands a document (``{"mandate", "travel"}``) to
:meth:`AgentHost.arrive`, which checks it (the owner's signature, expiry, a replayed hop, the
site's policy and quotas) and answers with a receipt signed by the house key, or refuses with
a stable code and a signed refusal. The visit then runs as a task on the house's event loop,
through the thesis' states (figure 7.4):

- OBSERVING: the site's open auctions are searched for the item; each that fits the mandate
  (method, estimated price within the per-site cap, closing before return-by) becomes an option;
  one at or below the bargain price is joined at once;
- COOPERATING: the agent discloses the sites it knows and learns the ones this site knows, so a
  partial schedule discovers the rest;
- MOVING: the site POSTs the document to the next site to visit; a site that does not answer is
  marked dead, one that refuses is marked refused, and the next one is tried;
- DECIDING (schedule done or search-until passed): the option with the lowest estimate that is
  still open is chosen and the agent moves there (or stays);
- REGISTERING, BIDDING: the registered bidder strategy bids through a ``MandateMarket`` (the
  house checks each bid against the mandate and files it in the ledger) until the auction
  closes, the visit's time is up or return-by comes; a loss sends it back to DECIDING;
- COMPLETING, HOME: it goes home when it has won, when nothing acceptable is left, or at
  return-by; home verifies the trip log and keeps it (``records``).

Every step appends a signed, hash-chained trip log entry, and important ones are posted home as
signed progress messages (the owner's live view, and the heads that catch a cut log).
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from auctionhouse.agents.bidder import BidderAgent, BidderReport
from auctionhouse.agents.bidding import make_strategy
from auctionhouse.agents.embedded import EmbeddedHouse
from auctionhouse.agents.market import MarketUpdate, SignedBid
from auctionhouse.agents.runtime import Runtime, agent_rng
from auctionhouse.errors import (
    AgentRefused,
    AuctionhouseError,
    ConfigError,
    Conflict,
    InvalidMandate,
    InvalidRequest,
    MandateExpired,
)
from auctionhouse.house import AuctionHouse
from auctionhouse.house.agent_policy import AgentPolicy
from auctionhouse.house.visitors import LocalVisitors, VisitorBook, replayed
from auctionhouse.ledger.mandate import Mandate, parse_mandate, site_url
from auctionhouse.mobile.courier import Courier
from auctionhouse.mobile.market import MandateMarket
from auctionhouse.mobile.records import HomeRecords
from auctionhouse.mobile.travel import (
    MAX_SCHEDULE,
    RECEIPT_CONTEXT,
    TO_VISIT,
    TRIP_CONTEXT,
    check_travel,
    head,
    spent_in_log,
    statement_holds,
    unsigned,
)
from auctionhouse.server.app import ServerState
from auctionhouse.times import utc_time

log = logging.getLogger("auctionhouse.mobile")
T = TypeVar("T")
BUSY = (429, 503)
MOVE_ATTEMPTS = 5
MAX_KNOWN = 1024  # sites a site remembers from what agents disclose
MAX_ADDED = 16  # sites one cooperation gives an agent (a flood of junk sites stays bounded)


@dataclass
class Visit:
    mandate: Mandate
    travel: dict[str, Any]
    arrived: float
    deadline: float
    launch: bool
    bids: int = 0  # placed during this visit, in every auction here (the site's max_bids)
    committed: int = 0  # money won or left leading here during this visit (its max_money)
    told: asyncio.Future[bool] | None = None  # the last progress message sent home
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # Its bidding was ended by return-by: a timer may fire a moment before the house clock
    # reads return-by, and the agent must then still go home for that reason.
    return_due: bool = False


class AgentHost:
    def __init__(
        self,
        server: ServerState,
        policy: AgentPolicy,
        records: HomeRecords | None = None,
        *,
        hops_path: Path | None = None,
    ) -> None:
        self.server = server
        self.policy = policy
        self.records = records or HomeRecords()
        self.url = site_url(policy.site_url) if policy.site_url else ""
        self.known: dict[str, None] = dict.fromkeys(site_url(p) for p in policy.peers)
        self.visiting: dict[str, Visit] = {}  # the visits this process runs
        # Hops and visits of the whole site (every instance of a shared house): house/visitors.py
        self._hops_path = hops_path
        self._book: VisitorBook | None = None
        self.counts: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: httpx.AsyncClient | None = None
        self._courier: Courier | None = None
        self._runtime: Runtime | None = None
        self._hub: EmbeddedHouse | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        # Idle connections are dropped before uvicorn's 5 s keep-alive closes them, so a move
        # never goes out on a connection the next site has just closed.
        limits = httpx.Limits(
            max_connections=200, max_keepalive_connections=50, keepalive_expiry=2.0
        )
        self._http = httpx.AsyncClient(limits=limits, timeout=self.policy.move_timeout)
        self._courier = Courier(self._http, self.sign, self.counts, lambda: self.url)
        self._runtime = Runtime(self.house.clock)
        self._book = await asyncio.get_running_loop().run_in_executor(None, self._open_book)
        self._hub = EmbeddedHouse(self.server.service)

    def _open_book(self) -> VisitorBook:
        """The shared house's book in its database (its instances' leases keep the visits
        alive), or this process's (its hops in ``hops_path``: a replay stays refused after a
        restart)."""
        leases = self.server.hub.leases
        url = self.server.config.database_url
        if url is not None and leases is not None:
            from auctionhouse.house.shared_visitors import SharedVisitors

            return SharedVisitors(url, leases.instance)
        return LocalVisitors(self._hops_path, self.now())

    async def _booked(self, call: Callable[[], T]) -> T:
        """A call of the visitor book: at once for this process's (memory), on a worker thread
        for a shared house's (a database round trip)."""
        if isinstance(self._book, LocalVisitors):
            return call()
        return await asyncio.get_running_loop().run_in_executor(None, call)

    @property
    def book(self) -> VisitorBook:
        assert self._book is not None, "the agent host is not started"
        return self._book

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runtime is not None:
            await self._runtime.shutdown()
        if self._courier is not None:
            await self._courier.close()
        if self._http is not None:
            await self._http.aclose()
        if self._book is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._book.close)
        self.records.close()

    @property
    def house(self) -> AuctionHouse:
        return self.server.house

    def now(self) -> float:
        return self.house.clock.now()

    @property
    def courier(self) -> Courier:
        assert self._courier is not None, "the agent host is not started"
        return self._courier

    def sign(self, context: bytes, statement: dict[str, Any]) -> dict[str, Any]:
        """``statement`` with this site's key and its signature (``site_key``, ``sig``)."""
        statement["site_key"] = self.house.ledger.public_hex
        statement.pop("sig", None)
        statement["sig"] = self.house.ledger.sign_statement(context, unsigned(statement))
        return statement

    def describe(self, base_url: str) -> dict[str, Any]:
        """What this site tells the world: its URL, key, policy and the sites it knows."""
        self.url = self.url or site_url(base_url)
        p = self.policy
        return {
            "site": self.url,
            "site_key": self.house.ledger.public_hex,
            "accepts": p.accept if p.enabled else "none",
            "max_agents": p.max_agents,
            "visit_seconds": p.visit_seconds,
            "max_bids": p.max_bids,
            "max_money": p.max_money,
            "visiting": self.book.visiting(),
            "known_sites": list(self.known),
        }

    # -- arrival ------------------------------------------------------------------------------

    def refusal(self, exc: AuctionhouseError, body: Any) -> dict[str, Any]:
        """A signed refusal for ``exc`` (the sender keeps it as proof of the refusal)."""
        mandate = body.get("mandate") if isinstance(body, dict) else None
        travel = body.get("travel") if isinstance(body, dict) else None
        statement = {
            "kind": "refusal",
            "agent": mandate.get("agent") if isinstance(mandate, dict) else None,
            "hop": travel.get("hop") if isinstance(travel, dict) else None,
            "site": self.url,
            "code": exc.code,
            "message": exc.message,
            "at": self.now(),
        }
        return self.sign(RECEIPT_CONTEXT, statement)

    async def arrive(self, body: Any, base_url: str) -> dict[str, Any]:
        """Check an arriving agent and take it in; returns the signed receipt.

        Raises ``InvalidRequest`` (malformed), ``InvalidMandate`` (signature, strategy),
        ``MandateExpired``, ``ReplayedHop``, ``AgentRefused`` (policy), ``QuotaExceeded``
        (visiting agents at once, on every instance of the house) or ``Conflict`` (the agent
        is here already); nothing is kept. The hop and the visit are checked and recorded in
        one step of the site's ``VisitorBook`` (a database round trip on a shared house, off
        the event loop).
        """
        self.url = self.url or site_url(base_url)
        if not isinstance(body, dict) or set(body) != {"mandate", "travel"}:
            raise InvalidRequest("an agent document is {mandate, travel}")
        mandate = parse_mandate(body["mandate"])
        check_strategy(mandate)
        travel = check_travel(body["travel"])
        travel["spent"] = max(travel["spent"], spent_in_log(travel["log"]))
        now = self.now()
        hop = travel["hop"]
        book = self.book
        seen = await self._booked(functools.partial(book.last_hop, mandate.agent))
        if seen is not None and hop <= seen:  # first, as before: a home's retried return
            raise replayed(mandate.agent, seen, hop)  # hears replayed_hop, not home already
        at_home = mandate.home == self.url
        returning = at_home and travel["state"] == "HOME"
        launch = at_home and travel["state"] == "STARTING" and hop == 0 and not travel["log"]
        if returning:
            if mandate.agent not in self.records:
                raise InvalidRequest(f"agent {mandate.agent} was not launched from here")
            if self.records.is_home(mandate.agent):
                raise Conflict(f"agent {mandate.agent} is home already")
        else:  # home always takes its agents back, even late; visitors must be in time
            if now > mandate.expires:
                raise MandateExpired(
                    f"agent {mandate.agent}'s mandate expired at {utc_time(mandate.expires)}",
                    expires=mandate.expires,
                )
            if not self.policy.enabled or not self.policy.accepts(mandate.owner_key):
                raise AgentRefused("this site does not accept visiting agents of this owner")
            if now > mandate.return_by:
                raise MandateExpired(
                    f"agent {mandate.agent} is past its return-by"
                    f" ({utc_time(mandate.return_by)}): go home",
                    return_by=mandate.return_by,
                )
            if launch and mandate.agent in self.records:
                raise InvalidRequest(f"agent {mandate.agent} was launched already")
        # replayed_hop, here already (conflict), quota_exceeded: over the whole house
        admit = functools.partial(
            book.admit,
            mandate.agent,
            hop,
            mandate.expires,
            now,
            stay=not returning,
            max_agents=self.policy.max_agents,
        )
        await self._booked(admit)
        if launch:
            try:
                self.records.launch(mandate, now)
            except BaseException:
                self.book.leave(mandate.agent)
                raise
        receipt = self.sign(
            RECEIPT_CONTEXT,
            {
                "kind": "receipt",
                "agent": mandate.agent,
                "hop": hop,
                "site": self.url,
                "head": head(travel["log"], mandate.digest),
                "at": now,
            },
        )
        self.counts["returned" if returning else "launched" if launch else "arrived"] += 1
        if returning:
            self.records.returned(mandate, body, now)
            return receipt
        deadline = now + self.policy.visit_seconds
        visit = Visit(mandate, travel, now, deadline, launch)
        self.visiting[mandate.agent] = visit
        self._spawn(self._run(visit))
        return receipt

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the trip log and progress ------------------------------------------------------------

    def _log(self, visit: Visit, what: str, detail: dict[str, Any] | None = None) -> None:
        travel = visit.travel
        entries = travel["log"]
        entry = {
            "n": len(entries),
            "prev": head(entries, visit.mandate.digest)["hash"],
            "site": self.url,
            "at": round(self.now(), 3),
            "hop": travel["hop"],
            "state": travel["state"],
            "what": what,
            "detail": detail or {},
        }
        entries.append(self.sign(TRIP_CONTEXT, entry))

    def _progress(self, visit: Visit, what: str, detail: dict[str, Any] | None) -> None:
        """Tell home: the courier signs and posts it with the others going there (at home,
        it goes straight into the record); a lost message is counted, never fatal."""
        mandate, travel = visit.mandate, visit.travel
        message = {
            "agent": mandate.agent,
            "site": self.url,
            "hop": travel["hop"],
            "state": travel["state"],
            "what": what,
            "head": head(travel["log"], mandate.digest),
            "at": self.now(),
            "detail": detail or {},
            "result": travel["result"],
            "spent": travel["spent"],
        }
        if mandate.home == self.url:
            message["site_key"] = self.house.ledger.public_hex
            self.records.add_progress([message])
        else:
            visit.told = self.courier.tell(mandate.home, message)

    async def _reported(self, visit: Visit) -> None:
        """Wait until home has had this site's last progress message (its answer, or the
        failure): home holds this site's head of the log before the next site holds the
        agent, so a next site that cuts the log cannot outrun the report that catches it."""
        if visit.told is not None and not visit.told.done():
            await asyncio.wait([visit.told], timeout=self.policy.move_timeout)

    def _step(self, visit: Visit, state: str, what: str, detail: dict[str, Any]) -> None:
        visit.travel["state"] = state
        self._log(visit, what, detail)

    # -- the visit ----------------------------------------------------------------------------

    async def _run(self, visit: Visit) -> None:
        agent = visit.mandate.agent
        try:
            if visit.launch:
                sites = [s["site"] for s in visit.travel["schedule"]]
                self._step(visit, "STARTING", "launched", {"schedule": sites})
            else:
                self._observe(visit)
                self._cooperate(visit)
                self._progress(visit, "visited", {"options": self._options_here(visit)})
            await self._travel_on(visit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agent %s failed at %s; sending it home", agent)
            self.counts["failed"] += 1
            try:
                await self._go_home(visit, "the site failed")
            except Exception:
                log.exception("agent %s could not be sent home", agent)
        finally:
            self.visiting.pop(agent, None)
            if isinstance(self._book, LocalVisitors):
                self._book.leave(agent)
            elif self._book is not None:  # a database write on a shared house: off the loop
                asyncio.get_running_loop().run_in_executor(None, self._book.leave, agent)

    def _money_here(self, visit: Visit) -> int:
        """The most the agent may still commit here: the mandate's cap, what is left of its
        budget and of the site's money per agent."""
        mandate, spent = visit.mandate, int(visit.travel["spent"])
        return min(mandate.cap, mandate.budget - spent, self.policy.max_money - visit.committed)

    def _options_here(self, visit: Visit) -> list[dict[str, Any]]:
        return [o for o in visit.travel["options"] if o["site"] == self.url]

    def _observe(self, visit: Visit) -> None:
        """OBSERVING: mark this site visited; list the auctions that fit the mandate."""
        mandate, travel = visit.mandate, visit.travel
        schedule = travel["schedule"]
        mine = [e for e in schedule if e["site"] == self.url]
        for entry in mine:
            entry["status"] = "visited"
        if not mine:
            schedule.append({"site": self.url, "status": "visited"})
        travel["state"] = "OBSERVING"
        travel["options"] = [o for o in travel["options"] if o["site"] != self.url]
        cap = self._money_here(visit)
        seen = 0
        found: list[dict[str, Any]] = []
        for state in ("open", "scheduled"):
            for view in self.house.list_auctions(state=state, limit=1000):
                seen += 1
                option = self._option(mandate, view, cap)
                if option is not None:
                    found.append(option)
        found.sort(key=lambda o: (o["estimate"], o["auction"]))
        travel["options"].extend(found)
        bargain = next((o for o in found if o["estimate"] <= mandate.bargain_price), None)
        if bargain is not None and travel["target"] is None:
            bargain["status"] = "chosen"
            travel["target"] = {"site": self.url, "auction": bargain["auction"]}
        self._log(
            visit,
            "observed",
            {
                "auctions": seen,
                "acceptable": [[o["auction"], o["method"], o["estimate"]] for o in found],
                "bargain": bargain["auction"] if bargain else None,
            },
        )

    def _option(self, mandate: Mandate, view: dict[str, Any], cap: int) -> dict[str, Any] | None:
        item = str((view.get("item") or {}).get("name", ""))
        if view["method"] not in mandate.methods:
            return None
        if not fnmatch.fnmatch(item.lower(), mandate.item.lower()):
            return None
        if view.get("seller") == mandate.account:
            return None
        closes = view.get("close_due_at") or view.get("closes_at")
        if view["method"] != "dutch" and closes is not None and closes > mandate.return_by:
            return None  # it could not see it through (a Dutch clock is accepted any time)
        rules = view.get("rules") or {}
        estimate = view.get("price") or rules.get("starting_price") or 1
        if view["method"] == "dutch" and rules.get("decrement"):
            # The clock falls: the estimate is its price at return-by (the secret reserve may
            # stop it higher; the strategy never accepts above its limit anyway).
            ticks = max(0.0, mandate.return_by - self.now()) // float(
                rules.get("tick_seconds") or 1
            )
            estimate = max(1, estimate - int(ticks) * int(rules["decrement"]))
        if estimate > cap:
            return None
        return {
            "site": self.url,
            "auction": str(view["id"]),
            "item": item,
            "method": view["method"],
            "estimate": int(estimate),
            "closes_at": closes,
            "status": "acceptable",
        }

    def _cooperate(self, visit: Visit) -> None:
        """COOPERATING: learn the agent's sites; give it the ones it does not know."""
        travel, mandate = visit.travel, visit.mandate
        travel["state"] = "COOPERATING"
        theirs = {e["site"] for e in travel["schedule"]}
        for site in theirs:
            if site not in (self.url, mandate.home) and len(self.known) < MAX_KNOWN:
                self.known.setdefault(site, None)
        added: list[str] = []
        if self.now() < mandate.search_until:
            for site in self.known:
                if len(added) >= MAX_ADDED or len(travel["schedule"]) >= MAX_SCHEDULE:
                    break
                if site not in theirs and site != mandate.home and site != self.url:
                    travel["schedule"].append({"site": site, "status": "discovered"})
                    added.append(site)
        self._log(visit, "cooperated", {"added": added})

    async def _travel_on(self, visit: Visit) -> None:
        """DECIDING what next, until the agent has moved on or gone home."""
        mandate, travel = visit.mandate, visit.travel
        for _ in range(10_000):  # every pass consumes a site or an option: bounded anyway
            now = self.now()
            result = travel["result"]
            if result is not None and result.get("outcome") == "won":
                return await self._go_home(visit, "won")
            if now >= mandate.return_by or visit.return_due:
                return await self._go_home(visit, "return-by")
            target = travel["target"]
            if target is not None:
                if target["site"] == self.url:
                    await self._bid(visit, target["auction"])
                    continue
                if await self._move(visit, target["site"]):
                    return
                self._set_option(travel, target, "gone")
                travel["target"] = None
                continue
            if now < mandate.search_until:
                nxt = next((e for e in travel["schedule"] if e["status"] in TO_VISIT), None)
                if nxt is not None:
                    if await self._move(visit, nxt["site"]):
                        return
                    continue
            if not self._decide(visit):
                return await self._go_home(visit, "nothing acceptable left")
        raise RuntimeError("the agent's decisions did not end")

    def _decide(self, visit: Visit) -> bool:
        """DECIDING: choose the open option with the lowest estimate (False: none left)."""
        travel = visit.travel
        travel["state"] = "DECIDING"
        now = self.now()
        open_options = [
            o
            for o in travel["options"]
            if o["status"] == "acceptable" and (o["closes_at"] is None or o["closes_at"] > now)
        ]
        if not open_options:
            self._log(visit, "decided", {"chosen": None})
            return False
        best = min(open_options, key=lambda o: (o["estimate"], o["site"] != self.url))
        best["status"] = "chosen"
        travel["target"] = {"site": best["site"], "auction": best["auction"]}
        self._log(visit, "decided", {"chosen": [best["site"], best["auction"]]})
        return True

    @staticmethod
    def _set_option(travel: dict[str, Any], target: dict[str, Any], status: str) -> None:
        for option in travel["options"]:
            if option["site"] == target["site"] and option["auction"] == target["auction"]:
                option["status"] = status

    # -- moving -------------------------------------------------------------------------------

    async def _move(self, visit: Visit, site: str) -> bool:
        """MOVING: POST the document to ``site``. True: it took the agent; False: it is marked
        dead or refused in the schedule (and the trip log) and the agent stays here."""
        travel = visit.travel
        travel["hop"] += 1
        self._step(visit, "MOVING", "leaving", {"to": site})
        document = {"mandate": visit.mandate.raw, "travel": travel}
        status, refusal, uncertain = "dead", None, False
        await self._reported(visit)
        for attempt in range(MOVE_ATTEMPTS):
            try:
                code, answer = await self.courier.deliver(site, document)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                refusal = {"error": type(exc).__name__}  # nobody there: it never left
                break
            except httpx.TransportError as exc:
                # The connection broke or the answer was late (a loaded site): it may have
                # landed, and a retry hears replayed_hop if so; taking it for dead would leave
                # the agent running twice (here and there).
                refusal, uncertain = {"error": type(exc).__name__}, True
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            if code == 201 or (uncertain and _code(answer) == "replayed_hop"):
                # (a replayed hop after a broken connection: the first attempt got there)
                # One progress message per move, after it: its head is the log as handed on.
                self.counts["moved"] += 1
                ok = isinstance(answer, dict) and statement_holds(RECEIPT_CONTEXT, answer)
                self._progress(visit, "handed", {"to": site, "receipt": answer, "ok": ok})
                return True
            refusal = answer
            if code in BUSY and attempt < MOVE_ATTEMPTS - 1:
                await asyncio.sleep(0.05 * 2**attempt)
                continue
            status = "refused" if 400 <= code < 500 else "dead"
            break
        self.counts[status] += 1
        for entry in travel["schedule"]:
            if entry["site"] == site and entry["status"] in TO_VISIT:
                entry["status"] = status
        self._step(visit, "STARTING", status, {"site": site, "answer": refusal})
        return False

    async def _go_home(self, visit: Visit, why: str) -> None:
        """COMPLETING: send the agent home (its state HOME on arrival)."""
        mandate, travel = visit.mandate, visit.travel
        travel["hop"] += 1
        self._step(visit, "COMPLETING", "going_home", {"why": why, "result": travel["result"]})
        self._progress(visit, "going_home", {"why": why})
        travel["state"] = "HOME"
        document = {"mandate": mandate.raw, "travel": travel}
        if mandate.home == self.url:
            self.records.returned(mandate, document, self.now())
            self.counts["returned"] += 1
            return
        await self._reported(visit)  # home's record is complete when the agent is back
        for attempt in range(MOVE_ATTEMPTS):
            try:
                status, answer = await self.courier.deliver(mandate.home, document)
                if status == 201 or (attempt and _code(answer) == "replayed_hop"):
                    self.counts["sent_home"] += 1
                    return
                if status not in BUSY:
                    log.warning("home refused agent %s: %s", mandate.agent, answer)
                    break
            except httpx.HTTPError as exc:
                log.warning("home of agent %s unreachable: %s", mandate.agent, exc)
            await asyncio.sleep(0.1 * 2**attempt)
        self.counts["stranded"] += 1

    # -- registering and bidding --------------------------------------------------------------

    async def _bid(self, visit: Visit, auction_id: str) -> None:
        """REGISTERING, BIDDING: the registered strategy bids here until the auction closes,
        the visit's time is up or return-by comes."""
        mandate, travel = visit.mandate, visit.travel
        target = {"site": self.url, "auction": auction_id}
        travel["target"] = None
        try:
            view = self.house.view(auction_id)
        except AuctionhouseError:
            self._set_option(travel, target, "gone")
            return
        if view.get("result") is not None:
            self._set_option(travel, target, "gone")
            return
        if self.now() >= visit.deadline or visit.bids >= self.policy.max_bids:
            # The site's time per visit or bids per agent are used up: it moves on.
            self._set_option(travel, target, "gone")
            why = "visit_seconds" if visit.bids < self.policy.max_bids else "max_bids"
            self._step(visit, "DECIDING", "quota_used", {"auction": auction_id, "quota": why})
            return
        budget = self._money_here(visit)
        self._step(visit, "REGISTERING", "registered", {"auction": auction_id, "budget": budget})
        if budget < 1:
            self._set_option(travel, target, "gone")
            return
        owner_key, account = mandate.owner_key, mandate.account
        now = self.now()
        await self.server.service.run_blocking(
            lambda h: h.accounts.create_key_account(account, owner_key, now=now)
        )
        travel["state"] = "BIDDING"
        self._progress(visit, "bidding", {"auction": auction_id, "budget": budget})
        finished = asyncio.Event()

        def on_bid(bid: SignedBid, ack: dict[str, Any]) -> None:
            detail = {"auction": auction_id, "amount": bid.amount, "seq": ack.get("seq")}
            if bid.proxy_max is not None:
                detail["proxy_max"] = bid.proxy_max
            self._log(visit, "bid", detail)
            self._progress(visit, "bid", detail)

        def on_report(report: BidderReport) -> None:
            if report.kind in ("won", "lost"):
                finished.set()

        def on_update(notice: object) -> None:
            if isinstance(notice, MarketUpdate) and notice.view.get("result") is not None:
                finished.set()

        assert self._hub is not None and self._runtime is not None
        market = MandateMarket(
            self._hub,
            mandate,
            max_bids=self.policy.max_bids - visit.bids,
            max_money=self.policy.max_money - visit.committed,
            on_bid=on_bid,
        )
        strategy = make_strategy(
            mandate.strategy, dict(mandate.params), agent_rng(travel["hop"], mandate.agent)
        )
        bidder = BidderAgent(
            f"{mandate.agent}@{travel['hop']}",
            market,
            strategy,
            budget=budget,
            auctions=[auction_id],
            value=mandate.value,
            poll=0.1,
            on_report=on_report,
        )
        self._hub.watch([auction_id], on_update)
        address = self._runtime.spawn(bidder, name=f"{mandate.agent}-{travel['hop']}")
        try:
            wait = min(visit.deadline, mandate.return_by) - self.now()
            if wait > 0:
                try:
                    await asyncio.wait_for(finished.wait(), timeout=wait)
                except TimeoutError:
                    pass
            visit.return_due = not finished.is_set() and mandate.return_by <= visit.deadline
        finally:
            self._runtime.stop(address)
            self._hub.unwatch([auction_id], on_update)
        spent = travel["spent"]
        self._settle(visit, auction_id, market)
        visit.bids += market.attempts
        visit.committed += travel["spent"] - spent

    def _settle(self, visit: Visit, auction_id: str, market: MandateMarket) -> None:
        travel, mandate = visit.travel, visit.mandate
        target = {"site": self.url, "auction": auction_id}
        view = self.house.view(auction_id, viewer=mandate.account)
        result = view.get("result")
        if result is None:  # the visit's time ran out first: it leaves the auction
            mine = view.get("you", {}).get("bids") or []
            leading = view.get("leader") == mandate.account
            committed = 0
            if leading or (mine and view["method"] in ("fpsb", "vickrey")):
                committed = max(view.get("you", {}).get("max") or 0, *mine, 0)
                travel["spent"] += committed
            self._set_option(travel, target, "gone")
            detail = {"auction": auction_id, "bids": mine, "committed": committed}
            self._step(visit, "DECIDING", "left_open", detail)
            return
        if result.get("winner") == mandate.account:
            price = int(result.get("price") or 0)
            travel["spent"] += price
            travel["result"] = {
                "outcome": "won",
                "site": self.url,
                "auction": auction_id,
                "item": (view.get("item") or {}).get("name"),
                "price": price,
            }
            self._set_option(travel, target, "won")
            self._step(visit, "COMPLETING", "won", {"auction": auction_id, "price": price})
            return
        outcome = "no_sale" if result.get("winner") is None else "lost"
        self._set_option(travel, target, outcome)
        self._step(visit, "DECIDING", outcome, {"auction": auction_id, "bids": market.attempts})


def check_strategy(mandate: Mandate) -> None:
    """The mandate's strategy must be registered here and its parameters valid; a site never
    opens a file an agent names (``InvalidMandate``)."""
    if "file" in mandate.params:
        raise InvalidMandate("strategy.params.file: a site opens no files; embed 'evolved'")
    try:
        make_strategy(mandate.strategy, dict(mandate.params))
    except ConfigError as exc:
        raise InvalidMandate(f"strategy: {exc.message}") from None


def _code(answer: Any) -> str | None:
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("code") if isinstance(error, dict) else None
