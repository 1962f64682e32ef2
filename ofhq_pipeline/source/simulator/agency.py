"""The synthetic agency: creators, fans, money and chats, generated columnar with numpy and polars.

Everything is drawn from one `numpy.random.default_rng(seed)` and the history ends at `end`, so the
same arguments always give identical frames (no wall clock). Every step is vectorized over fans,
transactions and messages (loops run only per creator or per template group), which keeps a
1M-fan, 10M-transaction agency within seconds.

The story it tells (what the pipeline must find again):
- 18 months of history; free and paid pages; free trials, promos and renewal discounts.
- About a third of fans ever buy; spend is heavy-tailed with a few whales.
- Purchases happen inside a fan's subscription history; a PPV purchase follows a PPV offer
  (a direct one, or a mass message) to that fan in the chat.
- Statuses come in the API's spellings; some purchases are charged back later, and some of those
  only the chargebacks endpoint reveals (`chargeback_hidden`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa

from ofhq_pipeline.source.simulator import templates as tpl

DEFAULT_END = datetime(2026, 11, 1, tzinfo=UTC)
DAY = 86_400
PERIOD = 30 * DAY  # one subscription period
HISTORY_DAYS = 540
TS = pl.Datetime("us", "UTC")

# Scale 1: a small agency.
BASE_CREATORS, BASE_FANS, BASE_TRANSACTIONS, BASE_MESSAGES = 9, 3_500, 2_300, 25_000
BUYER_SHARE = 0.34

# Transaction kinds (internal); the API only reveals them through the description.
TIP, MESSAGE, POST, STREAM, OTHER, SUBSCRIPTION = range(6)
KIND_NAMES = ("tip", "message", "post", "stream", "other", "subscription")

FAN_NAMES = [
    "Mark", "Jay", "Mike", "Dave", "Chris", "Tom", "Alex", "Sam", "Ben", "Dan", "Rob", "Matt",
    "Nick", "Josh", "Ryan", "Kevin", "Brian", "Jason", "Eric", "Adam", "Tyler", "Kyle", "Jake",
    "Luke", "Sean", "Paul", "Steve", "Greg", "Tony", "Joe", "Frank", "Carlos", "Luis", "José",
    "Mateo", "Diego", "Andre", "Marco", "Lukas", "Jonas", "Felix", "Pierre", "Hugo", "Liam",
    "Noah", "Owen", "Ethan", "Mason", "Logan", "Aiden", "Hunter", "Cody", "Travis", "Derek",
    "Shane", "Brad", "Chad", "Wes", "Zach", "Nate", "Ian", "Colin", "Gavin", "Trent", "Dylan",
    "Austin", "Blake", "Cole", "Reid", "Grant", "Miles", "Oscar", "Raj", "Arjun", "Kenji",
    "Hiro", "Min", "Wei", "Omar", "Ali", "Yusuf", "Ivan", "Dmitri", "Piotr", "Tomasz", "Bjorn",
    "Lars", "Sven", "Erik", "Finn", "Declan", "Patrick", "Conor", "Rory", "Angus", "Hamish",
    "Bruno", "Rafael", "Thiago", "Emeka", "Kwame", "Jamal", "Darnell", "Marcus", "Terrell",
    "Ray", "Gus", "Hank", "Walt", "Earl", "Vic", "Lou", "Mo", "Big Tony", "Mr. Bear", "Zoë",
    "Sasha", "Robin", "Jordan", "Casey", "Taylor", "Riley", "Quinn", "Avery", "Jesse", "Kai",
]
CREATOR_FIRST = ["Luna", "Mia", "Ava", "Ivy", "Skye", "Jade", "Nova", "Ruby", "Stella", "Aria",
                 "Chloe", "Maya", "Lexi", "Bella", "Zara", "Kira", "Layla", "Remi", "Sasha", "Tessa"]
CREATOR_LAST = ["Star", "Rose", "Blaze", "Knight", "Vale", "Moon", "Storm", "Belle", "Fox", "Rain",
                "Lane", "Frost", "Wilde", "Grey", "Bloom", "Hart", "Sky", "Raven", "Steele", "Dove"]
PAGE_PRICES = np.array([4.99, 6.99, 9.99, 12.99, 14.99])
PROMO_DISCOUNTS = np.array([20, 25, 30, 40, 50, 60, 75])
VAULT_TYPES = np.array(["photo", "video", "audio", "gif"])

# Buyer archetypes: share of fans, and their mix over tip/message/post/stream/other purchases.
ARCHETYPE_SHARE = np.array([0.45, 0.25, 0.07, 0.10, 0.03, 0.10])
ARCHETYPE_MIX = np.array([
    [0.15, 0.75, 0.05, 0.02, 0.03],  # PPV buyer
    [0.70, 0.20, 0.05, 0.02, 0.03],  # tipper
    [0.35, 0.55, 0.05, 0.02, 0.03],  # custom buyer
    [0.15, 0.15, 0.65, 0.02, 0.03],  # post buyer
    [0.25, 0.15, 0.05, 0.52, 0.03],  # stream fan
    [0.30, 0.35, 0.20, 0.08, 0.07],  # mixed
])
CUSTOM_ARCHETYPE = 2

# How the API spells each kind in a transaction description (with the fan's link inserted).
DESCRIPTION_PREFIX = {
    (TIP, 0): "Tip from ", (MESSAGE, 0): "Payment for message from ", (POST, 0): "Payment for post from ",
    (STREAM, 0): "Payment for stream from ", (STREAM, 1): "Stream tip from ",
    (OTHER, 0): "Payment for bundle from ", (OTHER, 1): "Referral payout from ",
    (SUBSCRIPTION, 0): "Subscription from ", (SUBSCRIPTION, 1): "Recurring subscription from ",
}
CUSTOM_SUFFIXES = [" (custom video)", " (custom photo set)", " (custom request)"]
STATUSES = ("done", "succeeded", "completed", "refund", "refunded", "pending", "loading")


@dataclass(frozen=True)
class Agency:
    """The generated agency as polars frames; every timestamp is Datetime("us", "UTC").

    - accounts: id ("acct_xxxx"), username, name, is_authenticated, user_id (the creator's own
      OnlyFans user id: `from_user_id` of the creator's messages).
    - fans: creator_id, id, username, name, last_seen, subscribes (list of struct action
      "subscribe"|"renew", date, price, regularPrice, discount, type "regular"|"trial"|"promo";
      one 30-day period each, in time order), expired_at (end of the last period),
      subscribe_price, regular_price, discount_percent (the terms of the next renewal).
    - transactions: creator_id, id ("tr_..."), fan_id, fan_username, fan_name, amount, net, fee,
      vat_amount, currency, description (HTML; the contract derives the type from it), status
      (the API's spelling before any chargeback), created_at, chargeback_at (null when none),
      chargeback_hidden (True: /transactions keeps the original status), variant (0-3: which
      field names the API uses for it).
    - chargebacks: creator_id, id ("cb_..."), created_at (= the transaction's chargeback_at),
      payment_type, transaction_id.
    - messages: creator_id, fan_id (the chat), id (grows with time), text, price, is_free, is_tip,
      media (list of struct id, type: vault items), from_user_id, created_at, queue_id (mass sends).
    - vault_media: creator_id, id, type, created_at, duration, likes_count, tips_summ.
    """

    end: datetime
    accounts: pl.DataFrame
    fans: pl.DataFrame
    transactions: pl.DataFrame
    chargebacks: pl.DataFrame
    messages: pl.DataFrame
    vault_media: pl.DataFrame


def generate_agency(
    seed: int = 7,
    scale: float = 1.0,
    end: datetime = DEFAULT_END,
    *,
    n_creators: int | None = None,
    n_fans: int | None = None,
    n_transactions: int | None = None,
    n_messages: int | None = None,
) -> Agency:
    """A deterministic synthetic agency; `n_*` override the totals that `scale` would give."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    end = (end if end.tzinfo else end.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    sizes = _Sizes.of(scale, n_creators, n_fans, n_transactions, n_messages)
    rng = np.random.default_rng(seed)
    clock = _Clock(int(end.timestamp()))
    creators = _make_creators(rng, sizes.creators)
    vault = _make_vault(rng, creators.n, clock)
    fans = _make_fans(rng, sizes.fans, creators, clock)
    subs = _make_subscriptions(rng, fans, creators, clock, sizes.transactions)
    money = _make_purchases(rng, fans, subs, clock, sizes.transactions, sizes.messages)
    chats = _pick_chats(rng, fans, money, subs, clock, sizes.messages)
    msgs = _make_messages(rng, fans, creators, subs, money, chats, vault, clock, sizes.messages)
    _settle(rng, money, clock)
    transactions = _transactions_frame(rng, money, fans, creators)
    return Agency(
        end=end,
        accounts=creators.frame(),
        fans=_fans_frame(rng, fans, creators, subs, money, msgs, clock),
        transactions=transactions.drop("_kind"),
        chargebacks=_chargebacks_frame(rng, transactions),
        messages=_messages_frame(rng, msgs, fans, creators, vault),
        vault_media=vault.frame(creators),
    )


# ---------------------------------------------------------------------------------------------
# Small helpers


@dataclass(frozen=True)
class _Sizes:
    creators: int
    fans: int
    transactions: int
    messages: int

    @staticmethod
    def of(scale: float, creators: int | None, fans: int | None, transactions: int | None,
           messages: int | None) -> _Sizes:
        c = creators if creators is not None else max(1, round(BASE_CREATORS * math.sqrt(scale)))
        if c < 1:
            raise ValueError("an agency needs at least one creator")
        f = fans if fans is not None else max(c, round(BASE_FANS * scale))
        t = transactions if transactions is not None else round(BASE_TRANSACTIONS * scale)
        m = messages if messages is not None else round(BASE_MESSAGES * scale)
        return _Sizes(c, max(1, f), max(0, t), max(0, m))


@dataclass(frozen=True)
class _Clock:
    end: int  # epoch seconds

    @property
    def start(self) -> int:
        return self.end - HISTORY_DAYS * DAY


def _segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For consecutive groups of these sizes: each element's group, its position in it, offsets."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(owner.size, dtype=np.int64) - offsets[owner], offsets


def _ragged_take(offsets: np.ndarray, counts: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Indices of the elements of groups `which` (in that order) in a flat ragged array."""
    owner, pos, _ = _segments(counts[which])
    return offsets[which][owner] + pos


def _lists(offsets: np.ndarray, items: pl.DataFrame) -> pl.Series:
    """A list-of-struct column from flat rows and their group offsets (zero-copy through Arrow)."""
    structs = items.select(pl.struct(items.columns)).to_series().rechunk().to_arrow()
    lists = pa.LargeListArray.from_arrays(pa.array(np.asarray(offsets, dtype=np.int64)), structs)
    return pl.Series(pl.from_arrow(lists))


def _timestamps(seconds: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(seconds, dtype=np.int64) * 1_000_000).cast(TS)


def _scrambled(n: int, rng: np.random.Generator, bits: int) -> np.ndarray:
    """n distinct ids that look random: an affine bijection of 0..n-1 modulo 2**bits."""
    mult = int(rng.integers(1, 2 ** (bits - 2))) * 2 + 1
    add = int(rng.integers(0, 2**bits))
    return (np.arange(n, dtype=np.uint64) * np.uint64(mult) + np.uint64(add)) % np.uint64(2**bits)


def _weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k distinct indices drawn with probability proportional to weight (Efraimidis-Spirakis)."""
    k = min(k, weights.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    keys = np.log(rng.random(weights.size)) / weights
    return np.sort(np.argpartition(-keys, k - 1)[:k])


def _creator_rank(creators: _Creators) -> np.ndarray:
    """Position of each creator in creator_id order (frames are sorted by creator_id)."""
    return np.argsort(np.argsort(creators.ids)).astype(np.int64)


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


# ---------------------------------------------------------------------------------------------
# Creators and their vaults


@dataclass
class _Creators:
    ids: np.ndarray
    usernames: np.ndarray
    names: np.ndarray
    user_ids: np.ndarray
    prices: np.ndarray  # regular page price; 0 for a free page
    weights: np.ndarray  # share of the agency's fans

    @property
    def n(self) -> int:
        return len(self.ids)

    def first_names(self) -> np.ndarray:
        return np.array([name.split(" ")[0] for name in self.names])

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame({
            "id": self.ids.tolist(), "username": self.usernames.tolist(), "name": self.names.tolist(),
            "is_authenticated": [True] * self.n, "user_id": self.user_ids.astype(np.int64),
        })


def _make_creators(rng: np.random.Generator, n: int) -> _Creators:
    alphabet = np.array(list("0123456789abcdefghijklmnopqrstuvwxyz"))
    width = 4 if n <= 20_000 else 6
    codes = rng.choice(36**width, n, replace=False)
    digits = np.stack([(codes // 36**i) % 36 for i in reversed(range(width))], axis=1)
    ids = np.array(["acct_" + "".join(row) for row in alphabet[digits]])
    combos = [f"{a} {b}" for a in CREATOR_FIRST for b in CREATOR_LAST]
    order = rng.permutation(len(combos))
    names = np.array([combos[order[i % len(combos)]] + (f" {i // len(combos) + 1}" if i >= len(combos) else "")
                      for i in range(n)])
    usernames = np.array([name.lower().replace(" ", "") for name in names])
    user_ids = rng.choice(8_000_000, n, replace=False) + 1_000_000
    paid = rng.random(n) < 0.45
    if n >= 2:  # always both kinds of page
        paid[0], paid[1] = True, False
    prices = np.where(paid, rng.choice(PAGE_PRICES, n), 0.0)
    weights = rng.lognormal(0.0, 0.6, n)
    return _Creators(ids, usernames, names, user_ids, prices, weights / weights.sum())


@dataclass
class _Vault:
    creator: np.ndarray
    ids: np.ndarray
    types: np.ndarray
    created: np.ndarray
    offsets: np.ndarray  # per creator, into the arrays above (sorted by creator, created)
    counts: np.ndarray
    duration: np.ndarray
    likes: np.ndarray
    tips: np.ndarray

    def pick(self, rng: np.random.Generator, creator: np.ndarray, at: np.ndarray,
             counts: np.ndarray) -> np.ndarray:
        """Vault indices for messages: `counts[i]` distinct items of creator[i] created by at[i]."""
        base = np.int64(self.created.min()) - 1
        key = self.creator.astype(np.int64) * 2**32 + (self.created - base)
        available = np.searchsorted(key, creator.astype(np.int64) * 2**32 + (np.maximum(at, base) - base),
                                    side="right") - self.offsets[creator]
        available = np.maximum(available, 1)  # the oldest item predates all history
        first = (rng.random(creator.size) * available).astype(np.int64)
        owner, pos, _ = _segments(counts)
        return self.offsets[creator][owner] + (first[owner] + pos) % available[owner]

    def frame(self, creators: _Creators) -> pl.DataFrame:
        return pl.DataFrame({
            "creator_id": creators.ids[self.creator].tolist(), "id": self.ids, "type": self.types.tolist(),
            "created_at": _timestamps(self.created), "duration": self.duration, "likes_count": self.likes,
            "tips_summ": self.tips,
        })


def _make_vault(rng: np.random.Generator, n_creators: int, clock: _Clock) -> _Vault:
    counts = rng.integers(35, 66, n_creators)
    creator, pos, offsets = _segments(counts)
    lo = clock.start - 90 * DAY
    created = lo + (rng.random(creator.size) * (clock.end - lo)).astype(np.int64)
    created[offsets] = lo + rng.integers(0, 30 * DAY, n_creators)  # every vault predates the history
    order = np.lexsort((created, creator))
    creator, created = creator[order], created[order]
    # Ids grow with upload time across the agency.
    by_time = np.argsort(created, kind="stable")
    ids = np.empty(creator.size, dtype=np.int64)
    ids[by_time] = 7001 + np.cumsum(rng.integers(1, 4, creator.size))
    types = VAULT_TYPES[rng.choice(4, creator.size, p=[0.6, 0.3, 0.04, 0.06])]
    duration = np.select([types == "video", types == "audio"],
                         [rng.integers(15, 900, creator.size), rng.integers(10, 180, creator.size)], 0)
    likes = rng.negative_binomial(2, 0.06, creator.size).astype(np.int64)
    tips = np.where(rng.random(creator.size) < 0.15, _money(rng.lognormal(2.5, 0.8, creator.size)), 0.0)
    return _Vault(creator, ids, types, created, offsets, counts, duration.astype(np.int64), likes, tips)


# ---------------------------------------------------------------------------------------------
# Fans and subscriptions


@dataclass
class _Fans:
    creator: np.ndarray
    ids: np.ndarray
    names: np.ndarray  # indices into the names array below
    name_list: np.ndarray
    usernames: pl.Series
    join: np.ndarray  # first subscription, epoch seconds
    buyer: np.ndarray
    archetype: np.ndarray
    pref_hour: np.ndarray

    @property
    def n(self) -> int:
        return self.ids.size

    def name_series(self) -> pl.Series:
        return pl.Series(self.name_list.tolist()).gather(self.names)


def _make_fans(rng: np.random.Generator, n: int, creators: _Creators, clock: _Clock) -> _Fans:
    creator = np.sort(rng.choice(creators.n, n, p=creators.weights))
    if n >= creators.n:  # every creator has fans
        creator[: creators.n] = np.arange(creators.n)
        creator = np.sort(creator)
    own_ids = (rng.choice(990_000_000, n, replace=False) + 10_000_000).astype(np.int64)
    # Names: a first name, sometimes with an initial.
    initials = [f"{name} {c}." for name in FAN_NAMES for c in "ABCDEFGHJKLMNPRSTW"]
    name_list = np.array(FAN_NAMES + initials)
    names = np.where(rng.random(n) < 0.8, rng.integers(0, len(FAN_NAMES), n),
                     rng.integers(len(FAN_NAMES), len(name_list), n))
    # The same person subscribed to two creators: same id and name, two fans.
    src = rng.integers(0, n, n)
    share = (rng.random(n) < 0.03) & (creator[src] != creator)
    ids = np.where(share, own_ids[src], own_ids)
    names = np.where(share, names[src], names)
    # Two copies of one person landing on the same creator: the later one keeps its own id,
    # which nobody else can hold on that creator (copies always come from another creator).
    _, first = np.unique(creator.astype(np.int64) * 2**31 + ids, return_index=True)
    dup = np.ones(n, dtype=bool)
    dup[first] = False
    ids[dup] = own_ids[dup]
    custom_name = rng.random(n) < 0.2
    plain = pl.Series(name_list.tolist()).gather(names).str.split(" ").list.first().str.to_lowercase()
    digits = pl.Series(rng.integers(1, 999, n)).cast(pl.String)
    usernames = pl.select(
        pl.when(pl.Series(custom_name))
        .then(pl.concat_str([plain.str.replace_all(r"[^a-z]", ""), pl.lit("_"), digits]))
        .otherwise(pl.concat_str([pl.lit("u"), pl.Series(ids).cast(pl.String)]))
    ).to_series()
    join = clock.start + ((rng.random(n) ** 0.75) * (clock.end - clock.start)).astype(np.int64)
    # Evening-heavy activity hours, some night owls.
    hour_weights = np.array([3, 2, 1.5, 1, .5, .3, .3, .5, 1, 1, 1, 1.2, 1.5, 1.2, 1, 1, 1.2,
                             1.5, 2.5, 3.5, 4, 4.5, 4.5, 3.5])
    pref_hour = rng.choice(24, n, p=hour_weights / hour_weights.sum())
    return _Fans(
        creator=creator, ids=ids, names=names, name_list=name_list, usernames=usernames, join=join,
        buyer=rng.random(n) < BUYER_SHARE, archetype=rng.choice(6, n, p=ARCHETYPE_SHARE),
        pref_hour=pref_hour,
    )


@dataclass
class _Subs:
    fan: np.ndarray  # per subscription period (fans in order, periods in time order)
    date: np.ndarray
    renew: np.ndarray  # action: renew (else subscribe)
    price: np.ndarray
    regular: np.ndarray
    discount: np.ndarray
    kind: np.ndarray  # 0 regular, 1 trial, 2 promo
    offsets: np.ndarray  # per fan
    counts: np.ndarray
    expired_at: np.ndarray  # per fan: end of the last period

    KINDS = ("regular", "trial", "promo")


def _geometric(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    return rng.geometric(1.0 / max(mean, 1.0), n)


def _make_subscriptions(rng: np.random.Generator, fans: _Fans, creators: _Creators, clock: _Clock,
                        n_transactions: int) -> _Subs:
    n = fans.n
    regular = creators.prices[fans.creator]
    paid_page = regular > 0
    paid_buyer = paid_page & fans.buyer
    # Paid periods take about 40% of the transaction budget.
    mean_paid = float(np.clip(0.4 * n_transactions / max(1, paid_buyer.sum()), 1.2, 16.0))

    def chain_length(start: np.ndarray) -> np.ndarray:
        length = np.where(paid_page, np.where(fans.buyer, _geometric(rng, mean_paid, n), 1),
                          _geometric(rng, 6.0, n))
        return np.minimum(length, (clock.end - start) // PERIOD + 1)

    trial_first = paid_buyer & (rng.random(n) < 0.25)
    len1 = chain_length(fans.join) + trial_first
    len1 = np.minimum(len1, (clock.end - fans.join) // PERIOD + 1)
    trial_first &= len1 >= 2
    start2 = fans.join + len1 * PERIOD + 5 * DAY + rng.exponential(40 * DAY, n).astype(np.int64)
    has2 = (rng.random(n) < 0.12) & (start2 <= clock.end)
    len2 = np.where(has2, chain_length(start2), 0)

    fan, pos, offsets = _segments(len1 + len2)
    second = pos >= len1[fan]
    k = np.where(second, pos - len1[fan], pos)
    date = np.where(second, start2[fan], fans.join[fan]) + k * PERIOD
    reg = regular[fan]
    trial = (paid_page[fan] & ~fans.buyer[fan]) | (trial_first[fan] & ~second & (k == 0))
    # Some fans only ever pay discounted prices, most rarely do.
    promo_taste = rng.choice([0.05, 0.3, 0.95], n, p=[0.5, 0.35, 0.15])[fan]
    promo = paid_buyer[fan] & ~trial & (rng.random(fan.size) < np.where(k == 0, promo_taste, promo_taste**2))
    discount = np.where(trial, 100, np.where(promo, rng.choice(PROMO_DISCOUNTS, fan.size), 0))
    price = np.where(paid_page[fan] & ~trial, np.maximum(_money(reg * (100 - discount) / 100), 3.0), 0.0)
    # The price floor can shrink a promo: the discount says what was actually given.
    discount = np.where(promo, np.round(100 * (1 - price / np.where(reg > 0, reg, 1))), discount)
    kind = np.where(trial, 1, np.where(promo & (k == 0), 2, 0))
    last = offsets + len1 + len2 - 1
    return _Subs(fan=fan, date=date, renew=k > 0, price=price, regular=reg, discount=discount.astype(np.int64),
                 kind=kind, offsets=offsets, counts=len1 + len2, expired_at=date[last] + PERIOD)


# ---------------------------------------------------------------------------------------------
# Money


@dataclass
class _Money:
    """Every transaction (subscription payments and purchases), before ids and statuses."""

    fan: np.ndarray
    at: np.ndarray
    amount: np.ndarray
    kind: np.ndarray
    wording: np.ndarray  # which description variant of the kind (see DESCRIPTION_PREFIX)
    custom: np.ndarray  # index into CUSTOM_SUFFIXES, -1 when not a custom
    via_mass: np.ndarray  # a PPV unlock answering a mass message
    status: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int8))  # into STATUSES
    chargeback_at: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # -1: none
    hidden: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))


def _make_purchases(rng: np.random.Generator, fans: _Fans, subs: _Subs, clock: _Clock,
                    n_transactions: int, n_messages: int) -> _Money:
    paid = subs.price > 0
    sub_fan = subs.fan[paid]
    n_subs = sub_fan.size
    budget = max(0, n_transactions - n_subs)

    # Spenders: every buyer on a free page, some on paid pages (who also pay subscriptions).
    paid_page = subs.regular[subs.offsets] > 0
    chosen = np.flatnonzero(fans.buyer & (~paid_page | (rng.random(fans.n) < 0.45)))
    if chosen.size == 0 and budget > 0:
        chosen = np.sort(rng.choice(fans.n, min(fans.n, budget), replace=False))
    if chosen.size > budget:
        chosen = np.sort(rng.choice(chosen, budget, replace=False))
    taste = rng.pareto(1.16, chosen.size) + 1.0  # heavy tail: a few fans buy a lot
    counts = np.ones(chosen.size, dtype=np.int64)
    if chosen.size:
        extra = budget - chosen.size
        share = taste.copy()
        for _ in range(3):  # even a whale buys at most ~1,000 times in 18 months
            share = np.minimum(share, 1_000 * share.sum() / max(extra, 1))
        counts += rng.multinomial(extra, share / share.sum())
    owner, _, _ = _segments(counts)
    fan = chosen[owner]
    level = np.minimum(taste**0.3, 6.0)[owner]  # big spenders also pay more per purchase

    # When: inside one of the fan's subscription periods.
    period = subs.offsets[fan] + (rng.random(fan.size) * subs.counts[fan]).astype(np.int64)
    start = subs.date[period]
    at = start + (rng.random(fan.size) * (np.minimum(PERIOD, clock.end - start) + 1)).astype(np.int64)

    # What: by the fan's archetype; PPV unlocks are capped by the chats' message budget.
    kind = np.empty(fan.size, dtype=np.int64)
    archetype = fans.archetype[fan]
    u = rng.random(fan.size)
    for a, mix in enumerate(np.cumsum(ARCHETYPE_MIX, axis=1)):
        rows = np.flatnonzero(archetype == a)
        kind[rows] = np.minimum(np.searchsorted(mix, u[rows], side="right"), OTHER)
    message_rows = np.flatnonzero(kind == MESSAGE)
    cap = int(0.35 * n_messages)
    if message_rows.size > cap:
        kind[rng.choice(message_rows, message_rows.size - cap, replace=False)] = TIP
    custom_rate = np.where(fans.archetype[fan] == CUSTOM_ARCHETYPE, 0.6, 0.04)
    is_custom = np.isin(kind, (TIP, MESSAGE)) & (rng.random(fan.size) < custom_rate)
    amount = _purchase_amounts(rng, kind, is_custom, level)
    wording = (np.isin(kind, (STREAM, OTHER)) & (rng.random(fan.size) < 0.3)).astype(np.int8)
    custom = np.where(is_custom, rng.integers(0, len(CUSTOM_SUFFIXES), fan.size), -1)

    return _Money(
        fan=np.concatenate([sub_fan, fan]),
        at=np.concatenate([subs.date[paid], at]),
        amount=np.concatenate([subs.price[paid], amount]),
        kind=np.concatenate([np.full(n_subs, SUBSCRIPTION), kind]),
        wording=np.concatenate([subs.renew[paid].astype(np.int8), wording]),
        custom=np.concatenate([np.full(n_subs, -1), custom]),
        via_mass=np.zeros(n_subs + fan.size, dtype=bool),
    )


def _pretty_price(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Creator-set prices: whole dollars, often ending in .99."""
    whole = np.maximum(np.round(x), 3)
    return np.where(rng.random(x.size) < 0.6, whole - 0.01, whole)


def _purchase_amounts(rng: np.random.Generator, kind: np.ndarray, custom: np.ndarray,
                      level: np.ndarray) -> np.ndarray:
    n = kind.size
    tip = np.clip(np.round(rng.lognormal(np.log(10), 0.8, n) * level), 3, 500)
    tip = np.where(rng.random(n) < 0.4, np.maximum(5, np.round(tip / 5) * 5), tip)
    ppv = _pretty_price(np.clip(rng.lognormal(np.log(14), 0.55, n) * level**0.8, 3, 100), rng)
    custom_price = np.clip(np.round(rng.lognormal(np.log(80), 0.5, n) * level**0.5 / 5) * 5, 30, 500)
    post = _pretty_price(np.clip(rng.lognormal(np.log(8), 0.5, n), 3, 50), rng)
    stream = np.clip(np.round(rng.lognormal(np.log(12), 0.7, n)), 3, 200)
    other = _money(np.clip(rng.lognormal(np.log(20), 0.6, n), 5, 200))
    amount = np.select([kind == TIP, kind == MESSAGE, kind == POST, kind == STREAM],
                       [tip, ppv, post, stream], other)
    custom_amount = np.where(kind == TIP, np.maximum(tip, custom_price), custom_price)
    return _money(np.where(custom, custom_amount, amount))


def _settle(rng: np.random.Generator, money: _Money, clock: _Clock) -> None:
    """Statuses in the API's spellings, and chargebacks some time after the purchase."""
    n = money.fan.size
    u = rng.random(n)
    status = np.searchsorted(np.array([0.86, 0.92, 0.965, 0.975, 0.985, 1.0]), u, side="right")
    status = np.where(status > 4, 0, status).astype(np.int8)  # done, succeeded, completed, refund, refunded
    recent = np.flatnonzero((money.at > clock.end - 2 * DAY) & (rng.random(n) < 0.35))  # still settling
    status[recent] = rng.integers(5, 7, recent.size)  # pending, loading
    settled = (status <= 2) & (money.amount > 0)
    chargeback_at = money.at + rng.integers(2 * DAY, 75 * DAY, n)
    charged = settled & (rng.random(n) < 0.012) & (chargeback_at <= clock.end)
    money.status = status
    money.chargeback_at = np.where(charged, chargeback_at, -1)
    money.hidden = charged & (rng.random(n) < 0.3)


# ---------------------------------------------------------------------------------------------
# Chats and messages


@dataclass
class _Chats:
    fan: np.ndarray  # fan index per chat
    start: np.ndarray
    end: np.ndarray


def _pick_chats(rng: np.random.Generator, fans: _Fans, money: _Money, subs: _Subs, clock: _Clock,
                n_messages: int) -> _Chats:
    must = np.zeros(fans.n, dtype=bool)
    must[money.fan[money.kind == MESSAGE]] = True  # a PPV unlock needs a chat to be offered in
    target = max(int(must.sum()), min(round(0.45 * fans.n), n_messages // 3))
    spends = np.zeros(fans.n, dtype=bool)
    spends[money.fan] = True
    weights = np.where(spends, 3.0, np.where(fans.buyer, 2.0, 1.0))
    others = np.flatnonzero(~must)
    extra = others[_weighted_sample(rng, weights[others], target - int(must.sum()))]
    fan = np.sort(np.concatenate([np.flatnonzero(must), extra]))
    end = np.minimum(clock.end, subs.expired_at[fan])
    start = np.minimum(fans.join[fan] + rng.exponential(DAY, fan.size).astype(np.int64), end)
    return _Chats(fan, start, end)


@dataclass
class _Msgs:
    """Message rows; media as vault indices, flat in row order."""

    fan: np.ndarray
    at: np.ndarray
    from_fan: np.ndarray
    price: np.ndarray
    is_tip: np.ndarray
    queue: np.ndarray  # -1: not a mass message
    template: np.ndarray  # index into FAN_TEMPLATES, or len(FAN_TEMPLATES) + creator template index
    amount: np.ndarray  # fills {amount}
    media_counts: np.ndarray
    media: np.ndarray

    @staticmethod
    def of(fan: np.ndarray, at: np.ndarray, from_fan: bool | np.ndarray, template: np.ndarray, *,
           price: np.ndarray | None = None, is_tip: bool = False, queue: np.ndarray | None = None,
           amount: np.ndarray | None = None, media_counts: np.ndarray | None = None,
           media: np.ndarray | None = None) -> _Msgs:
        n = fan.size
        return _Msgs(
            fan=fan.astype(np.int64), at=at.astype(np.int64),
            from_fan=np.broadcast_to(from_fan, n).astype(bool),
            price=np.zeros(n) if price is None else price.astype(np.float64), is_tip=np.full(n, is_tip),
            queue=np.full(n, -1, dtype=np.int64) if queue is None else queue.astype(np.int64),
            template=template.astype(np.int64),
            amount=np.zeros(n) if amount is None else amount.astype(np.float64),
            media_counts=np.zeros(n, dtype=np.int64) if media_counts is None else media_counts.astype(np.int64),
            media=np.empty(0, dtype=np.int64) if media is None else media.astype(np.int64),
        )

    @staticmethod
    def empty() -> _Msgs:
        none = np.empty(0, dtype=np.int64)
        return _Msgs.of(none, none, False, none)

    @property
    def size(self) -> int:
        return self.fan.size

    @staticmethod
    def concat(parts: list[_Msgs]) -> _Msgs:
        return _Msgs(**{name: np.concatenate([getattr(p, name) for p in parts])
                        for name in _Msgs.__dataclass_fields__})

    def take(self, rows: np.ndarray) -> _Msgs:
        offsets = np.cumsum(self.media_counts) - self.media_counts
        media = self.media[_ragged_take(offsets, self.media_counts, rows)]
        kept = {name: getattr(self, name)[rows] for name in self.__dataclass_fields__ if name != "media"}
        return _Msgs(**kept, media=media)


class _TemplatePicker:
    """Template indices by sampling group; creator templates are numbered after the fan ones."""

    def __init__(self) -> None:
        groups: dict[str, list[int]] = {}
        n_fan = len(tpl.FAN_TEMPLATES)
        for offset, templates in ((0, tpl.FAN_TEMPLATES), (n_fan, tpl.CREATOR_TEMPLATES)):
            for i, template in enumerate(templates):
                groups.setdefault(template.kind, []).append(offset + i)
        for i, template in enumerate(tpl.FAN_TEMPLATES):
            if template.kind == "signal":
                groups.setdefault("signal:" + template.signals[0], []).append(i)
        self.groups = {kind: np.array(rows) for kind, rows in groups.items()}
        self.signal_groups = [self.groups["signal:" + s] for s in tpl.SIGNALS]

    def pick(self, rng: np.random.Generator, group: str, n: int) -> np.ndarray:
        rows = self.groups[group]
        return rows[rng.integers(0, rows.size, n)]

    def pick_signal(self, rng: np.random.Generator, signal: np.ndarray) -> np.ndarray:
        out = np.empty(signal.size, dtype=np.int64)
        for s, rows in enumerate(self.signal_groups):
            here = np.flatnonzero(signal == s)
            out[here] = rows[rng.integers(0, rows.size, here.size)]
        return out


def _make_messages(rng: np.random.Generator, fans: _Fans, creators: _Creators, subs: _Subs,
                   money: _Money, chats: _Chats, vault: _Vault, clock: _Clock, n_messages: int) -> _Msgs:
    """Every chat message, in time order. Budget: essentials first, conversation gets the rest."""
    picker = _TemplatePicker()
    chat_of_fan = np.full(fans.n, -1)
    chat_of_fan[chats.fan] = np.arange(chats.fan.size)
    spends = np.zeros(fans.n, dtype=bool)
    spends[money.fan] = True
    signals = _fan_signals(rng, fans, spends)
    unlocks = int((money.kind == MESSAGE).sum())
    base = chats.fan.size  # at least one conversation message per chat

    mass_budget = max(0, min(int(0.12 * n_messages), n_messages - base - unlocks))
    mass = _mass_messages(rng, fans, chats, vault, clock, picker, mass_budget)
    _link_unlocks_to_mass(rng, money, mass, subs, clock)
    offers, replies = _direct_offers(rng, fans, money, vault, picker, signals,
                                     room=n_messages - base - mass.size - unlocks)
    parts = [mass, offers, replies]
    room = n_messages - base - sum(p.size for p in parts)
    parts += _tip_messages(rng, money, chat_of_fan, picker, clock, room)
    room = n_messages - base - sum(p.size for p in parts)
    parts.append(_unsold_offers(rng, fans, money, chats, spends, vault, picker, room))
    total = max(base, n_messages - sum(p.size for p in parts))
    parts.append(_conversations(rng, fans, chats, spends, signals, vault, picker, total))
    msgs = _Msgs.concat(parts)
    # Ids grow with time across the agency (ties keep generation order: offer before answer).
    return msgs.take(np.argsort(msgs.at, kind="stable"))


def _fan_signals(rng: np.random.Generator, fans: _Fans, spends: np.ndarray) -> np.ndarray:
    """Two favourite intent signals per fan: buyers talk about buying, others about other things."""
    n_sig = len(tpl.SIGNALS)
    buyer_w = np.array([5, 3, 3, 2, 4, 3, .5, 1, 1, 1, 2, 1, 1, .5])
    other_w = np.array([.5, 1, 3, 3, 1, .3, 3, 2, 2, 3, 1, 3, 2, 2])
    out = np.empty((fans.n, 2), dtype=np.int64)
    for col in range(2):
        out[:, col] = np.where(spends, rng.choice(n_sig, fans.n, p=buyer_w / buyer_w.sum()),
                               rng.choice(n_sig, fans.n, p=other_w / other_w.sum()))
    out[fans.archetype == CUSTOM_ARCHETYPE, 0] = tpl.SIGNALS.index("wants_custom")
    return out


def _mass_messages(rng: np.random.Generator, fans: _Fans, chats: _Chats, vault: _Vault,
                   clock: _Clock, picker: _TemplatePicker, budget: int) -> _Msgs:
    """Mass sends: one queue id, one time, one text and media for many fans of a creator."""
    chat_creator = fans.creator[chats.fan]
    per_creator = np.bincount(chat_creator)
    share = budget * per_creator / max(1, per_creator.sum())
    parts: list[_Msgs] = []
    next_queue = 500_000
    for c in np.flatnonzero(share >= 1):
        rows = np.flatnonzero(chat_creator == c)
        sends = int(np.clip(round(share[c] / max(5.0, 0.15 * rows.size)), 1, 200))
        first_day = clock.start + 14 * DAY
        times = np.sort(first_day + (rng.random(sends) * (clock.end - first_day)).astype(np.int64))
        times = np.minimum(times // DAY * DAY + rng.integers(17 * 3600, 24 * 3600, sends), clock.end)
        send, fan = _mass_recipients(rng, chats, rows, times, share[c] / sends)
        if send.size == 0:
            continue
        is_ppv = rng.random(sends) < 0.6
        price = np.where(is_ppv, _pretty_price(rng.lognormal(np.log(12), 0.5, sends), rng), 0.0)
        n_media = np.where(is_ppv, rng.integers(1, 6, sends), rng.integers(0, 2, sends))
        media = vault.pick(rng, np.full(sends, c), times, n_media)
        template = np.where(is_ppv, picker.pick(rng, "mass_ppv", sends), picker.pick(rng, "mass_free", sends))
        queue = next_queue + np.arange(sends) * 7 + rng.integers(0, 7, sends)
        next_queue = int(queue.max()) + 7
        parts.append(_Msgs.of(
            fan, times[send], False, template[send], price=price[send], queue=queue[send],
            amount=price[send], media_counts=n_media[send],
            media=media[_ragged_take(np.cumsum(n_media) - n_media, n_media, send)],
        ))
    return _Msgs.concat(parts) if parts else _Msgs.empty()


def _mass_recipients(rng: np.random.Generator, chats: _Chats, rows: np.ndarray, times: np.ndarray,
                     per_send: float) -> tuple[np.ndarray, np.ndarray]:
    """(send, fan) pairs: random chats of the creator that are open at the send's time."""
    starts, ends = np.sort(chats.start[rows]), np.sort(chats.end[rows])
    active = np.searchsorted(starts, times, side="right") - np.searchsorted(ends, times, side="left")
    want = np.minimum(active, np.maximum(1, rng.poisson(per_send, times.size)))
    # Draw more candidates than needed (only the open chats count), then keep `want` of them.
    draws = np.minimum(np.ceil(want * rows.size / np.maximum(active, 1) * 1.5) + 3, 40 * want + 3)
    send, _, _ = _segments(np.where(want > 0, draws, 0).astype(np.int64))
    chat = rows[rng.integers(0, rows.size, send.size)]
    open_ = (chats.start[chat] <= times[send]) & (chats.end[chat] >= times[send])
    send, chat = send[open_], chat[open_]
    _, first = np.unique(send.astype(np.int64) * 2**32 + chat, return_index=True)
    send, chat = send[first], chat[first]
    _, pos, _ = _segments(np.bincount(send, minlength=times.size))
    keep = pos < want[send]
    return send[keep], chats.fan[chat[keep]]


def _link_unlocks_to_mass(rng: np.random.Generator, money: _Money, mass: _Msgs, subs: _Subs,
                          clock: _Clock) -> None:
    """About a third of PPV unlocks answer a mass PPV the fan received: moved just after it."""
    ppv = np.flatnonzero(mass.price > 0)
    if ppv.size == 0:
        return
    ppv = ppv[np.argsort(mass.fan[ppv], kind="stable")]
    by_fan = mass.fan[ppv]
    rows = np.flatnonzero((money.kind == MESSAGE) & (rng.random(money.fan.size) < 0.35))
    lo = np.searchsorted(by_fan, money.fan[rows], side="left")
    hi = np.searchsorted(by_fan, money.fan[rows], side="right")
    has = hi > lo
    rows, lo, hi = rows[has], lo[has], hi[has]
    pick = ppv[lo + (rng.random(rows.size) * (hi - lo)).astype(np.int64)]
    sent = mass.at[pick]
    gap = 60 + rng.exponential(3 * 3600, rows.size).astype(np.int64)
    latest = np.minimum(clock.end, subs.expired_at[money.fan[rows]])
    money.at[rows] = np.maximum(sent, np.minimum(sent + gap, latest))
    money.amount[rows] = mass.price[pick]
    money.custom[rows] = -1
    money.via_mass[rows] = True


def _direct_offers(rng: np.random.Generator, fans: _Fans, money: _Money, vault: _Vault,
                   picker: _TemplatePicker, signals: np.ndarray, room: int) -> tuple[_Msgs, _Msgs]:
    """A PPV offer shortly before each other unlock; often the fan answers in between."""
    rows = np.flatnonzero((money.kind == MESSAGE) & ~money.via_mass)
    fan, bought = money.fan[rows], money.at[rows]
    gap = np.clip(rng.lognormal(np.log(40 * 60), 1.2, rows.size), 60, 2 * DAY).astype(np.int64)
    offered = np.maximum(bought - gap, fans.join[fan])
    n_media = rng.integers(1, 5, rows.size)
    media = vault.pick(rng, fans.creator[fan], offered, n_media)
    is_custom = money.custom[rows] >= 0
    template = np.where(is_custom, picker.pick(rng, "custom_ppv", rows.size), picker.pick(rng, "ppv", rows.size))
    offers = _Msgs.of(fan, offered, False, template, price=money.amount[rows], amount=money.amount[rows],
                      media_counts=n_media, media=media)
    # The fan's answer: a custom request before a custom, else a buying signal before unlocking.
    answer = np.flatnonzero(rng.random(rows.size) < 0.5)[: max(0, room)]
    buying = np.array([tpl.SIGNALS.index(s) for s in
                       ("ready_to_buy", "price_question", "wants_more", "high_intent", "discount_request")])
    signal = np.where(rng.random(answer.size) < 0.5, buying[rng.integers(0, buying.size, answer.size)],
                      signals[fan[answer], 0])
    custom = is_custom[answer]
    signal = np.where(custom, tpl.SIGNALS.index("wants_custom"), signal)
    before = np.maximum(offered[answer] - rng.integers(600, 6 * 3600, answer.size), fans.join[fan[answer]])
    between = offered[answer] + ((bought[answer] - offered[answer]) * rng.uniform(0.2, 0.9, answer.size))
    at = np.where(custom, before, between.astype(np.int64))
    return offers, _Msgs.of(fan[answer], at, True, picker.pick_signal(rng, signal))


def _tip_messages(rng: np.random.Generator, money: _Money, chat_of_fan: np.ndarray,
                  picker: _TemplatePicker, clock: _Clock, room: int) -> list[_Msgs]:
    """Tips sent from the chat (isTip), usually thanked by the creator."""
    rows = np.flatnonzero((money.kind == TIP) & (chat_of_fan[money.fan] >= 0)
                          & (rng.random(money.fan.size) < 0.6))
    rows = rows[: max(0, room) * 10 // 17]
    tips = _Msgs.of(money.fan[rows], money.at[rows], True, picker.pick(rng, "tip", rows.size),
                    is_tip=True, amount=money.amount[rows])
    thanked = rows[rng.random(rows.size) < 0.7]
    at = np.minimum(money.at[thanked] + 5 + rng.exponential(40 * 60, thanked.size).astype(np.int64), clock.end)
    thanks = _Msgs.of(money.fan[thanked], np.maximum(at, money.at[thanked]), False,
                      picker.pick(rng, "thanks", thanked.size))
    return [tips, thanks]


def _unsold_offers(rng: np.random.Generator, fans: _Fans, money: _Money, chats: _Chats,
                   spends: np.ndarray, vault: _Vault, picker: _TemplatePicker, room: int) -> _Msgs:
    """PPV offers nobody bought: most offers are not unlocked."""
    n = max(0, min(room // 3, int(1.5 * (money.kind == MESSAGE).sum() + 0.05 * chats.fan.size)))
    if n == 0:
        return _Msgs.empty()
    weights = np.where(spends[chats.fan], 2.0, 1.0)
    chat = rng.choice(chats.fan.size, n, p=weights / weights.sum())
    at = chats.start[chat] + (rng.random(n) * (chats.end[chat] - chats.start[chat])).astype(np.int64)
    fan = chats.fan[chat]
    price = _pretty_price(np.clip(rng.lognormal(np.log(15), 0.6, n), 3, 100), rng)
    n_media = rng.integers(1, 5, n)
    return _Msgs.of(fan, at, False, picker.pick(rng, "ppv", n), price=price, amount=price,
                    media_counts=n_media, media=vault.pick(rng, fans.creator[fan], at, n_media))


def _conversations(rng: np.random.Generator, fans: _Fans, chats: _Chats, spends: np.ndarray,
                   signals: np.ndarray, vault: _Vault, picker: _TemplatePicker, total: int) -> _Msgs:
    """Chats in sessions at the fan's usual hour: replies within seconds or minutes, days between."""
    n_chats = chats.fan.size
    if n_chats == 0:
        return _Msgs.empty()
    # Lengths: heavy-tailed (many chats of a few messages, some of hundreds), buyers talk more.
    weight = rng.lognormal(np.where(spends[chats.fan], 1.0, 0.0), 1.5)
    extra = max(0, total - n_chats)
    for _ in range(3):  # no chat beyond ~1,500 messages, however many messages are asked for
        weight = np.minimum(weight, 1_500 * weight.sum() / max(extra, 1))
    lengths = 1 + rng.multinomial(extra, weight / weight.sum())
    chat, pos, offsets = _segments(lengths)
    n = chat.size
    new_session = (pos == 0) | (rng.random(n) < rng.uniform(0.1, 0.35, n_chats)[chat])
    session = np.cumsum(new_session) - 1
    s_chat = chat[new_session]
    span_days = (chats.end - chats.start)[s_chat] // DAY
    day = chats.start[s_chat] // DAY + (rng.random(s_chat.size) * (span_days + 1)).astype(np.int64)
    hour = (fans.pref_hour[chats.fan[s_chat]] + rng.normal(0, 1.3, s_chat.size)) % 24
    s_start = np.clip(day * DAY + (hour * 3600).astype(np.int64), chats.start[s_chat], chats.end[s_chat])
    gap = np.where(new_session, 0, np.clip(rng.lognormal(np.log(75), 1.1, n), 2, 6 * 3600)).astype(np.int64)
    cum = np.cumsum(gap)
    within = cum - cum[np.flatnonzero(new_session)][session]
    at = np.minimum(s_start[session] + within, chats.end[chat])
    at = at[np.lexsort((at, chat))]  # time order within each chat; who speaks is drawn by position
    switch = (pos > 0) & (rng.random(n) < 0.62)
    flips = np.cumsum(switch)
    flips -= flips[offsets][chat]
    from_fan = (rng.random(n_chats) < 0.55)[chat] ^ (flips % 2 == 1)
    fan = chats.fan[chat]
    template = _conversation_templates(rng, fans, fan, from_fan, pos, signals, picker)
    with_media = ~from_fan & (rng.random(n) < 0.04)  # a free picture now and then
    media = vault.pick(rng, fans.creator[fan[with_media]], at[with_media],
                       np.ones(int(with_media.sum()), dtype=np.int64))
    return _Msgs.of(fan, at, from_fan, template, media_counts=with_media.astype(np.int64), media=media)


def _conversation_templates(rng: np.random.Generator, fans: _Fans, fan: np.ndarray, from_fan: np.ndarray,
                            pos: np.ndarray, signals: np.ndarray, picker: _TemplatePicker) -> np.ndarray:
    n = fan.size
    template = np.where(pos == 0, picker.pick(rng, "welcome", n), picker.pick(rng, "chat", n))
    # Fan side: small talk, intent signals (mostly the fan's two favourites), facts, rare PII.
    u = rng.random(n)
    smalltalk = np.flatnonzero(from_fan & (u < 0.5))
    signal_rows = np.flatnonzero(from_fan & (u >= 0.5) & (u < 0.83))
    fact_rows = np.flatnonzero(from_fan & (u >= 0.83) & (u < 0.985))
    pii = np.flatnonzero(from_fan & (u >= 0.985))
    template[smalltalk] = picker.pick(rng, "smalltalk", smalltalk.size)
    template[pii] = picker.pick(rng, "pii", pii.size)
    favourite = signals[fan[signal_rows], rng.integers(0, 2, signal_rows.size)]
    signal = np.where(rng.random(signal_rows.size) < 0.7, favourite,
                      rng.integers(0, len(tpl.SIGNALS), signal_rows.size))
    template[signal_rows] = picker.pick_signal(rng, signal)
    template[fact_rows] = _fact_templates(rng, fans, fan[fact_rows])
    return template


def _fact_templates(rng: np.random.Generator, fans: _Fans, fan: np.ndarray) -> np.ndarray:
    """Facts stay true to the fan: three categories per fan, one value in each (from its id)."""
    n_cat = np.uint64(len(tpl.FACT_CATEGORIES))
    ids = fans.ids[fan].astype(np.uint64)
    which = rng.integers(0, 3, fan.size).astype(np.uint64)
    category = ((ids * np.uint64(2654435761) >> np.uint64(7)) + which * np.uint64(5)) % n_cat
    out = np.empty(fan.size, dtype=np.int64)
    for c, name in enumerate(tpl.FACT_CATEGORIES):
        rows = np.flatnonzero(category == c)
        frames, values = tpl.FACT_PARTS[name]
        value = ((ids[rows] * np.uint64(40503) + np.uint64(977 * c)) >> np.uint64(3)) % np.uint64(len(values))
        frame = rng.integers(0, len(frames), rows.size)
        out[rows] = tpl.fact_template_index(name, 0, 0) + frame * len(values) + value.astype(np.int64)
    return out


# ---------------------------------------------------------------------------------------------
# Frames


def _fans_frame(rng: np.random.Generator, fans: _Fans, creators: _Creators, subs: _Subs,
                money: _Money, msgs: _Msgs, clock: _Clock) -> pl.DataFrame:
    final = subs.offsets + subs.counts - 1
    # Last seen: the latest of the fan's own activity, plus a little browsing afterwards.
    last = subs.date[final].copy()
    np.maximum.at(last, money.fan, money.at)
    np.maximum.at(last, msgs.fan[msgs.from_fan], msgs.at[msgs.from_fan])
    last_seen = np.minimum(last + rng.integers(0, 4 * 3600, fans.n), clock.end)
    entries = pl.DataFrame({
        "action": pl.Series(["subscribe", "renew"]).gather(subs.renew.astype(np.int64)),
        "date": _timestamps(subs.date),
        "price": subs.price,
        "regularPrice": subs.regular,
        "discount": subs.discount,
        "type": pl.Series(list(_Subs.KINDS)).gather(subs.kind),
    })
    offsets = np.append(subs.offsets, subs.fan.size)
    trial = subs.kind[final] == 1  # after a trial, the next period costs the regular price
    frame = pl.DataFrame({
        "creator_id": pl.Series(creators.ids.tolist()).gather(fans.creator),
        "id": fans.ids,
        "username": fans.usernames,
        "name": fans.name_series(),
        "last_seen": _timestamps(last_seen),
        "subscribes": _lists(offsets, entries),
        "expired_at": _timestamps(subs.expired_at),
        "subscribe_price": np.where(trial, subs.regular[final], subs.price[final]),
        "regular_price": subs.regular[final],
        "discount_percent": np.where(trial, 0, subs.discount[final]).astype(np.int64),
    })
    order = np.argsort(_creator_rank(creators)[fans.creator] * 2**40 + fans.ids, kind="stable")
    return frame[order]


def _transactions_frame(rng: np.random.Generator, money: _Money, fans: _Fans,
                        creators: _Creators) -> pl.DataFrame:
    """Transactions by creator and time, with the internal `_kind` (into KIND_NAMES) attached."""
    n = money.fan.size
    ids = _scrambled(n, rng, 36).astype(np.int64)
    variant = rng.choice(4, n, p=[0.85, 0.05, 0.05, 0.05]).astype(np.int8)
    # Sorting integers here is much cheaper than sorting the finished frame by strings.
    creator = fans.creator[money.fan]
    order = np.argsort(_creator_rank(creators)[creator] * 2**40 + money.at, kind="stable")
    fan, creator, kind = money.fan[order], creator[order], money.kind[order]
    wording = np.where(kind == MESSAGE, 0, money.wording[order])
    prefixes = sorted(DESCRIPTION_PREFIX.items())
    prefix = np.zeros(n, dtype=np.int64)
    for i, ((k, word), _) in enumerate(prefixes):
        prefix[(kind == k) & (wording == word)] = i
    username = fans.usernames.gather(fan)
    name = fans.name_series().gather(fan)
    description = pl.concat_str([
        pl.Series([text for _, text in prefixes]).gather(prefix),
        pl.lit('<a href="https://onlyfans.com/'), username, pl.lit('">'), name, pl.lit("</a>"),
        pl.Series([""] + CUSTOM_SUFFIXES).gather(money.custom[order] + 1),
    ])
    amount = money.amount[order]
    net = _money(amount * 0.8)
    chargeback_at = money.chargeback_at[order]
    frame = pl.DataFrame({
        "creator_id": pl.Series(creators.ids.tolist()).gather(creator),
        "id": pl.Series(ids[order]).cast(pl.String),
        "fan_id": fans.ids[fan],
        "fan_username": username,
        "fan_name": name,
        "amount": amount,
        "net": net,
        "fee": _money(amount - net),
        "vat_amount": np.zeros(n),
        "currency": pl.repeat("USD", n, eager=True),
        "description": pl.select(description).to_series(),
        "status": pl.Series(list(STATUSES)).gather(money.status[order]),
        "created_at": _timestamps(money.at[order]),
        "chargeback_at": _timestamps(chargeback_at),
        "chargeback_hidden": money.hidden[order],
        "variant": variant[order],
        "_kind": kind.astype(np.int8),
        "_charged": chargeback_at >= 0,
    })
    return frame.with_columns(
        pl.concat_str([pl.lit("tr_"), pl.col("id")]).alias("id"),
        pl.when(pl.col("_charged")).then(pl.col("chargeback_at")).alias("chargeback_at"),
    ).drop("_charged")


def _chargebacks_frame(rng: np.random.Generator, transactions: pl.DataFrame) -> pl.DataFrame:
    charged = transactions.filter(pl.col("chargeback_at").is_not_null())
    ids = _scrambled(charged.height, rng, 24).astype(np.int64)
    return charged.select(
        "creator_id",
        pl.concat_str([pl.lit("cb_"), pl.Series(ids).cast(pl.String)]).alias("id"),
        pl.col("chargeback_at").alias("created_at"),
        pl.col("_kind").replace_strict(dict(enumerate(KIND_NAMES)), return_dtype=pl.String)
        .alias("payment_type"),
        pl.col("id").alias("transaction_id"),
    ).sort("creator_id", "created_at", "id")


def _messages_frame(rng: np.random.Generator, msgs: _Msgs, fans: _Fans, creators: _Creators,
                    vault: _Vault) -> pl.DataFrame:
    n = msgs.size
    texts = pl.Series([t.text for t in tpl.FAN_TEMPLATES] + [t.text for t in tpl.CREATOR_TEMPLATES])
    creator = fans.creator[msgs.fan]
    media = pl.DataFrame({"id": vault.ids[msgs.media], "type": pl.Series(vault.types.tolist()).gather(msgs.media)})
    offsets = np.append(0, np.cumsum(msgs.media_counts))
    parts = pl.DataFrame({
        "template": texts.gather(msgs.template),
        "name": fans.name_series().gather(msgs.fan).str.split(" ").list.first(),
        "creator": pl.Series(creators.first_names().tolist()).gather(creator),
        "amount": msgs.amount,
    })
    amount = pl.col("amount")
    text = parts.select(
        pl.col("template")
        .str.replace_all("{name}", pl.col("name"), literal=True)
        .str.replace_all("{creator}", pl.col("creator"), literal=True)
        .str.replace_all("{amount}", pl.when(amount == amount.round(0))
                         .then(amount.cast(pl.Int64).cast(pl.String))
                         .otherwise(amount.round(2).cast(pl.String)), literal=True)
    ).to_series()
    return pl.DataFrame({
        "creator_id": pl.Series(creators.ids.tolist()).gather(creator),
        "fan_id": fans.ids[msgs.fan],
        "id": 90_000 + np.cumsum(rng.integers(1, 4, n)),
        "text": text,
        "price": msgs.price,
        "is_free": msgs.price == 0,
        "is_tip": msgs.is_tip,
        "media": _lists(offsets, media),
        "from_user_id": np.where(msgs.from_fan, fans.ids[msgs.fan], creators.user_ids[creator]).astype(np.int64),
        "created_at": _timestamps(msgs.at),
        "queue_id": msgs.queue,
    }).with_columns(pl.when(pl.col("queue_id") >= 0).then(pl.col("queue_id")).alias("queue_id"))
