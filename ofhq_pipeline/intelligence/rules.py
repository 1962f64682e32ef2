"""`rules-v1`: a deterministic classifier of keywords and patterns over the same windows.

It runs when no OpenAI key is configured (the demo's default) and is a cheap pre-filter; its rows
are labelled `rules-v1`, never presented as the LLM's. It produces the same output shape as the
LLM (`ClassifierOutput`), set-based: every pattern is applied to the whole column of the fans'
own messages at once; Python only assembles one output per fan.

Intent scores: a strong cue ("how much", "discount", "custom", ...) makes a signal 60, each
further message with one adds 20 (at most 95); weak cues alone ("lol", "haha") stay below 50.
Facts come from first-person patterns ("my dog <Name>", "I work nights", "I'm from <Place>").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl

from ofhq_pipeline.intelligence.results import OK, Classification, Outcome
from ofhq_pipeline.intelligence.schema import SIGNALS, ClassifierOutput
from ofhq_pipeline.intelligence.windows import Windows

RULES_MODEL = "rules-v1"

# signal -> (strong cue, weak cue or None). Rust/Python-compatible regex, case-insensitive.
SIGNAL_RULES: dict[str, tuple[str, str | None]] = {
    "ready_to_buy": (
        r"\bsend (?:it|the set|that|the video)\b|\bunlock (?:it|that|this)\b|\bi'?ll take (?:it|that|one)\b"
        r"|\bwhere do i pay\b|\bsending (?:the|you the) money\b|\bi want (?:that|this) one\b"
        r"|\bi'?m buying\b|\bi'?m ready\b|\bbuy(?:ing)? it\b|\bdeclined\b",
        None,
    ),
    "wants_custom": (
        r"\bcustoms?\b|\bpersonali[sz]ed\b|\bjust for me\b|\brequest something\b|\bmy name in it\b",
        None,
    ),
    "price_question": (
        r"\bhow much\b|\bwhat'?s the price\b|\bprice\?|\bprices\b|\bprice (?:for|of|list)\b"
        r"|\bcosts?\b|\bexpensive\b|\ba bit much\b"
        r"|\btoo much\b",
        None,
    ),
    "discount_request": (
        r"\bdiscount\b|\bcheaper\b|\bdeal\b|\bfor \$\d+|\b2 for 1\b|\btwo for one\b|\bsales?\b"
        r"|\bcode\b|\blower it\b|\bbogo\b",
        None,
    ),
    "wants_more": (
        r"\bmore (?:please|of (?:that|this|you|it))\b|\bneed more\b|\bsend more\b|\bmore[?!]"
        r"|\bpart (?:2|two)\b|\banything else like that\b|\bcan'?t get enough\b"
        r"|\bnext (?:set|video|one|drop)\b|\beverything you'?ve got\b",
        None,
    ),
    "high_intent": (
        r"\bmoney'?s not an issue\b|\bwhatever you send\b|\beverything you'?ve got\b|\bi want all\b"
        r"|\ball of it\b|\bpay extra\b|\btell me the total\b|\bi buy from you\b"
        r"|\bdon'?t care about the price\b|\bspoil you\b",
        None,
    ),
    "churn_risk": (
        r"\bunsubscrib|\brenew\b|\bcancel|\bbored\b|\bwhy should i stay\b|\blast month\b"
        r"|\bauto.?renew\b|\bother pages\b|\bleaving\b",
        None,
    ),
    "escalation_intent": (
        r"\bvideo call\b|\bsnap(?:chat)?\b|\bwhatsapp\b|\bmeet\b|\btelegram\b|\bcall me\b"
        r"|\binsta(?:gram)?\b|\bemail me\b|\bmy email\b|\btext me\b|\bmy number\b|\badd me\b"
        r"|\[email\]|\[phone\]",
        None,
    ),
    "trust_intent": (
        r"\breally you\b|\bchatter\b|\bagency\b|\bprove it\b|\bsound different\b"
        r"|\bis this (?:actually|really)\b|\breal person\b|\bbot\b|\bwho am i talking to\b",
        None,
    ),
    "attention_intent": (
        r"\bhello\?\?|\bwhy aren'?t you (?:answering|replying)\b|\bignor|\bremember me\b"
        r"|\bstill waiting\b|\bnotice me\b|\bdid you see my\b|\banswer me\b|\bnever reply\b"
        r"|\breply anymore\b",
        r"\?\?",
    ),
    "status_intent": (
        r"\bfavou?rite\?|\bbiggest fan\b|\btop (?:spender|fan)s?\b|\bvip\b|\bsince day one\b"
        r"|\boldest fans?\b|\bi'?m special\b|\btell me i'?m\b",
        None,
    ),
    "emotional_support": (
        r"\brough day\b|\blonely\b|\bbest part of my day\b|\bhospital\b|\bcan'?t sleep\b"
        r"|\bpanic attack\b|\bsomeone to talk to\b|\bbreak ?up\b|\bdepressed\b|\bstressed\b",
        None,
    ),
    "entertainment": (
        r"\bhilarious\b|\bjoke\b|\bfunny\b|\bwhat are you watching\b|\bmeme\b|😂|\bso much fun\b"
        r"|\bplay a game\b|\bwould you rather\b|\bsaw this\b",
        r"\blol\b|\bhaha|\blmao\b",
    ),
    "boundary_testing": (
        r"\bwithout the filter\b|\bdon'?t post anywhere\b|\bwhy won'?t you\b|\bi paid\b"
        r"|\bjust this once\b|\bnobody will know\b|\bwhat if i pay\b|\bpay double\b"
        r"|\breal name\b|\bwhere do you live\b|\bmore than that\b",
        None,
    ),
}

_MONTH = (
    r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WORDS = r"([a-z]+(?: [a-z]+)?)"
# (category, pattern with one capture group: the value). Names and places must be capitalised.
FACT_RULES: list[tuple[str, str]] = [
    ("pet_name", r"(?i:\bmy (?:dog|cat|puppy|pup|kitten)(?:'s name is| is called| named)?) ([A-Z][a-zA-Z]+)"),
    ("occupation", r"(?i)\b(?:i'?m|i am|work(?:ing)? as|being) an? " + _WORDS),
    ("relationship_status",
     r"(?i)\b(?:i'?m|i am|been|being|just got|got) (single|divorced|married|separated|widowed|engaged)\b"),
    ("location",
     r"(?i:\bi'?m from|\bgreetings from|\bhere in|\bi live in|\bi'?m based in|\bliving in) "
     r"([A-Z][a-zA-Z]+(?: [A-Z][a-zA-Z]+)?)"),
    ("timezone",
     r"(?i:\bi'?m on|\bmy time ?zone is) "
     r"(EST|EDT|PST|PDT|CST|CDT|MST|MDT|GMT|BST|UTC|CET|CEST|EET|AEST|AEDT|IST|JST)\b"),
    ("language", r"(?i:\bmy english, i'?m|\bi speak|\bi'?m a native) ([A-Z][a-z]+)"),
    ("language", r"\b([A-Z][a-z]+) (?i:is my (?:first|native|mother) (?:language|tongue))"),
    ("hobby",
     r"(?i)(?:\bi'?m (?:really )?into|\bspent the (?:whole )?weekend|\bjust got back from"
     r"|\bmy hobby is|\bi enjoy) " + _WORDS),
    ("food_drink", r"(?i)\bhaving ([a-z][a-z ]{1,30}?) (?:tonight|for dinner|for lunch|for breakfast)\b"),
    ("food_drink",
     r"(?i)(?:\bcould live on|\bnothing beats|\bcraving|\bmy favou?rite (?:food|drink) is) "
     r"([a-z][a-z ]{1,30}?)(?:\s+(?:after work|tonight|right now)\b|[,.!?]|$)"),
    ("work_schedule",
     r"(?i)\bi work (nights|night shifts?|days|weekends|early mornings|from home|overnights?"
     r"|\d+ ?hour shifts|two weeks on,? two weeks off|late)\b"),
    ("sports_team", r"(?i:\bwatching the) ([A-Z][a-zA-Z]+)(?i: game)"),
    ("sports_team", r"(?i:\bgo) ([A-Z][a-zA-Z]+)!"),
    ("sports_team", r"(?i:\bthe) ([A-Z][a-zA-Z]+) (?i:lost|won|game)\b"),
    ("birthday", r"(?i:\bmy birthday is|\bbirthday on|\bdon'?t forget|\bbirthday's) (" + _MONTH + r" \d{1,2})\b"),
    ("body_preference", r"(?i)(?:\bi'?ve always loved|\bsucker for|\bweakness for) " + _WORDS),
    ("sub_anniversary",
     r"(?i)\b(\d+ (?:months?|years?))(?: now)? (?:subscribed|since i subscribed|on your page)"),
    ("other", r"(?i)(?:\bjust bought an?|\bfinally got my|\bsaving up for an?) " + _WORDS),
]
_TRAILING = (
    r"(?i)\s+(?:lately|today|tonight|again|now|so|and|but|with|is|are|was|at|in|on|for|lol|haha"
    r"|right|too|here)$"
)
# "I'm a sucker for ...", "I'm a big fan": not occupations.
_NOT_A_VALUE = (
    r"(?i)^(?:sucker|bit|little|big|huge|fan|lot|real|good|bad|loyal|new|long|total|great|nice"
    r"|regular)\b"
)

OBJECTION_RULES: dict[str, str] = {
    "price": r"(?i)\btoo (?:much|expensive|pricey)\b|\ba bit much\b|\bcan'?t afford\b"
    r"|\bmoney'?s tight\b|\bbroke\b|\bcheaper\b|\blower it\b",
    "trust": r"(?i)\bis this really you\b|\bchatter\b|\bagency\b|\bbot\b|\bscam\b|\breal person\b",
    "timing": r"(?i)\bnot (?:now|tonight|today)\b|\bmaybe later\b|\bnext (?:week|month)\b"
    r"|\bpayday\b|\bafter i get paid\b",
    "content": r"(?i)\bnot my thing\b|\bseen (?:it|that)\b|\bbored\b|\bsame (?:stuff|content)\b",
}
TOXIC = (
    r"(?i)\b(?:bitch|whore|slut|cunt|fuck you|kill (?:you|yourself)|i'?ll find you|stupid"
    r"|retard)\b"
)
ROMANTIC = (
    r"(?i)\bmiss(?:ing)? you\b|\bthinking about you\b|\blove you\b|\bgorgeous\b|\bbeautiful\b"
    r"|\bso pretty\b|\bbabe\b|😍|❤️|😘"
)
FORMATS: dict[str, str] = {
    "photo": r"(?i)\b(?:pics?|photos?|pictures?|selfies?|set)\b",
    "video": r"(?i)\b(?:videos?|vids?|clips?)\b",
    "audio": r"(?i)\b(?:voice (?:note|message)s?|audio|hear your voice)\b",
    "bundle": r"(?i)\b(?:bundle|everything you have|all of it)\b",
}
FACT_CONFIDENCE = 70
NEEDS = {
    "attention_intent": "to feel noticed", "status_intent": "to feel special",
    "emotional_support": "someone to talk to", "entertainment": "fun and banter",
    "trust_intent": "reassurance it is really her", "wants_more": "new content",
    "wants_custom": "personal attention",
}
DRIVERS = {
    "status_intent": "status", "emotional_support": "companionship", "entertainment": "escapism",
    "wants_more": "excitement", "high_intent": "excitement", "attention_intent": "validation",
    "trust_intent": "curiosity",
}
PURCHASE_SIGNALS = ("ready_to_buy", "wants_custom", "price_question", "discount_request",
                    "high_intent")


def _ci(pattern: str) -> str:
    return pattern if pattern.startswith("(?i") else "(?i)" + pattern


def signal_scores(fan_rows: pl.DataFrame) -> pl.DataFrame:
    """Per fan: `<signal>` score (0-100) and `<signal>_evidence` (message ids), vectorized."""
    flags = []
    for signal, (strong, weak) in SIGNAL_RULES.items():
        flags.append(pl.col("text").str.contains(_ci(strong)).alias(f"{signal}__s"))
        weak_hit = pl.col("text").str.contains(_ci(weak)) if weak else pl.lit(False)
        flags.append(weak_hit.alias(f"{signal}__w"))
    flagged = fan_rows.with_columns(flags)
    aggs = []
    for signal in SIGNAL_RULES:
        strong, weak = pl.col(f"{signal}__s"), pl.col(f"{signal}__w")
        aggs += [
            strong.sum().cast(pl.Int64).alias(f"{signal}__n"),
            (weak & ~strong).sum().cast(pl.Int64).alias(f"{signal}__nw"),
            pl.col("message_id").filter(strong).tail(5).alias(f"{signal}_evidence"),
        ]
    per_fan = flagged.group_by("fan_id").agg(aggs)
    return per_fan.with_columns([
        pl.when(pl.col(f"{s}__n") > 0)
        .then(pl.min_horizontal(40 + 20 * pl.col(f"{s}__n"), pl.lit(95)))
        .otherwise(pl.min_horizontal(15 * pl.col(f"{s}__nw"), pl.lit(45)))
        .cast(pl.Int64)
        .alias(s)
        for s in SIGNAL_RULES
    ]).select("fan_id", *SIGNAL_RULES, *[f"{s}_evidence" for s in SIGNAL_RULES])


def extract_facts(fan_rows: pl.DataFrame) -> pl.DataFrame:
    """(fan_id, category, value, message_id, created_at): the latest mention of each fact."""
    found = [
        fan_rows.select(
            "fan_id", "message_id", "created_at",
            category=pl.lit(category),
            value=pl.col("text").str.extract(pattern, 1),
        ).filter(pl.col("value").is_not_null())
        for category, pattern in FACT_RULES
    ]
    facts = pl.concat(found) if found else pl.DataFrame()
    value = pl.col("value").str.replace_all(r"\s+", " ").str.strip_chars(" ,.!?")
    for _ in range(2):
        value = value.str.replace(_TRAILING, "")
    return (
        facts.with_columns(value=value)
        .filter(
            (pl.col("value").str.len_chars() > 0)
            & ~((pl.col("category") == "occupation") & pl.col("value").str.contains(_NOT_A_VALUE))
        )
        .with_columns(norm=pl.col("value").str.to_lowercase())
        .sort("created_at", "message_id", maintain_order=True)
        .unique(["fan_id", "category", "norm"], keep="last")
        # Facts read in one message come in a fixed order too: the same chat, the same output.
        .sort("fan_id", "created_at", "message_id", "category", "norm")
        .drop("norm")
    )


def _per_fan_features(fan_rows: pl.DataFrame) -> pl.DataFrame:
    text = pl.col("text")
    day = pl.col("created_at").dt.date()
    objection_type = pl.lit(None, dtype=pl.String)
    for kind, pattern in reversed(OBJECTION_RULES.items()):
        objection_type = pl.when(text.str.contains(pattern)).then(pl.lit(kind)).otherwise(objection_type)
    rows = fan_rows.with_columns(objection_type=objection_type)
    return rows.group_by("fan_id").agg(
        fan_messages=pl.len().cast(pl.Int64),
        avg_chars=text.str.len_chars().mean(),
        active_days=day.n_unique().cast(pl.Int64),
        span_days=((pl.col("created_at").max() - pl.col("created_at").min()).dt.total_days() + 1),
        romantic=text.str.contains(ROMANTIC).sum().cast(pl.Int64),
        toxic_ids=pl.col("message_id").filter(text.str.contains(TOXIC)),
        objection_types=pl.col("objection_type").filter(pl.col("objection_type").is_not_null()).tail(3),
        objection_texts=text.filter(pl.col("objection_type").is_not_null()).tail(3).str.slice(0, 200),
        **{f"fmt_{k}": text.str.contains(p).sum().cast(pl.Int64) for k, p in FORMATS.items()},
    )


class RulesClassifier:
    method = "rules"
    model = RULES_MODEL

    def classify_windows(
        self, windows: Windows, fan_ids: list[int], *, now: Callable[[], datetime] | None = None
    ) -> Outcome:
        clock = now or (lambda: datetime.now(UTC))
        rows = windows.rows.filter(pl.col("fan_id").is_in(fan_ids))
        fan_rows = rows.filter(pl.col("is_from_fan"))
        scores = {r["fan_id"]: r for r in signal_scores(fan_rows).iter_rows(named=True)}
        features = {r["fan_id"]: r for r in _per_fan_features(fan_rows).iter_rows(named=True)}
        facts: dict[int, list[dict]] = {}
        for fact in extract_facts(fan_rows).iter_rows(named=True):
            facts.setdefault(fact["fan_id"], []).append(fact)
        by_fan = {w.fan_id: w for w in windows.get(fan_ids)}
        outcome = Outcome()
        for fan_id in fan_ids:
            window = by_fan.get(fan_id)
            if window is None:
                continue
            fan_facts = facts.get(fan_id, [])
            output = build_output(scores.get(fan_id), features.get(fan_id), fan_facts)
            outcome.results.append(Classification(
                fan_id=fan_id,
                window_hash=window.window_hash,
                model=self.model,
                method=self.method,
                status=OK,
                classified_at=clock(),
                output=output,
                cost_usd=0.0,
                message_count=window.message_count,
                fact_times={f["message_id"]: f["created_at"] for f in fan_facts},
            ))
        return outcome


def build_output(score_row: dict | None, features: dict | None, facts: list[dict]) -> ClassifierOutput:
    """One fan's output from his vectorized rule hits."""
    scores = {s: int((score_row or {}).get(s) or 0) for s in SIGNALS}
    evidence = {s: list((score_row or {}).get(f"{s}_evidence") or []) for s in SIGNALS}
    f = features or {}
    hot = {s for s, v in scores.items() if v >= 50}
    romantic = int(f.get("romantic") or 0)
    toxic_ids = list(f.get("toxic_ids") or [])

    if toxic_ids or "boundary_testing" in hot:
        fan_type = "dominant"
    elif "emotional_support" in hot:
        fan_type = "lonely"
    elif hot & set(PURCHASE_SIGNALS):
        fan_type = "transactional"
    elif "status_intent" in hot or "attention_intent" in hot:
        fan_type = "submissive"
    else:
        fan_type = "romantic"
    tone = {"dominant": "assertive", "lonely": "romantic", "transactional": "direct",
            "submissive": "playful", "romantic": "romantic"}[fan_type]
    if "entertainment" in hot:
        tone = "playful"

    drivers = list(dict.fromkeys(DRIVERS[s] for s in SIGNALS if s in hot and s in DRIVERS))
    if romantic >= 2:
        drivers.append("intimacy")
    needs = [NEEDS[s] for s in SIGNALS if s in hot and s in NEEDS][:5]

    formats = {k: int(f.get(f"fmt_{k}") or 0) for k in FORMATS}
    if any(formats.values()):
        content_format = max(formats, key=lambda k: (formats[k], k == "photo"))
    elif hot & {"emotional_support", "entertainment"}:
        content_format = "text"
    else:
        content_format = "photo"
    avg = float(f.get("avg_chars") or 0)
    length = "short" if avg < 40 else "medium" if avg < 120 else "long"
    active, span = int(f.get("active_days") or 0), int(f.get("span_days") or 1)
    per_week = 7 * active / max(span, 7)
    frequency = ("daily" if per_week >= 4 else "few_times_week" if per_week >= 1
                 else "only_new_content")
    if "entertainment" in hot:
        opener = "meme"
    elif "emotional_support" in hot:
        opener = "question"
    elif "status_intent" in hot:
        opener = "compliment"
    elif "wants_more" in hot:
        opener = "update"
    elif facts:
        opener = "topic_hook"
    else:
        opener = "question"
    if "wants_custom" in hot:
        offer = "personalized"
    elif hot & {"discount_request", "price_question"}:
        offer = "bundle"
    elif hot & {"wants_more", "high_intent", "ready_to_buy"}:
        offer = "limited_drop"
    else:
        offer = "behind_scenes"

    objections = [
        {"type": t, "text": x}
        for t, x in zip(f.get("objection_types") or [], f.get("objection_texts") or [], strict=False)
    ]
    fan_messages = int(f.get("fan_messages") or 0)
    return ClassifierOutput.model_validate({
        "fan_type": fan_type,
        "tone_preference": tone,
        "emotional_drivers": drivers,
        "emotional_needs": needs,
        "content_format_preference": content_format,
        "length_preference": length,
        "narrative_summary": _summary(fan_type, hot, facts, fan_messages),
        "intents": {s: {"score": scores[s], "evidence": evidence[s]} for s in SIGNALS},
        "facts": [
            {"category": x["category"], "value": x["value"], "confidence": FACT_CONFIDENCE,
             "message_id": x["message_id"]}
            for x in facts
        ],
        "objections": objections,
        "frequency_preference": frequency,
        "best_opener_type": opener,
        "best_offer_type": offer,
        "custom_interest_level": scores["wants_custom"],
        "toxicity": {
            "flag": bool(toxic_ids),
            "reason": f"abusive language (message {toxic_ids[-1]})" if toxic_ids else None,
        },
        "confidence": min(60, 20 + 4 * fan_messages),
    })


def _summary(fan_type: str, hot: set[str], facts: list[dict], fan_messages: int) -> str:
    parts = [f"Rules-based portrait from {fan_messages} of his messages; reads as {fan_type}."]
    if hot:
        parts.append("Signals: " + ", ".join(s.replace("_", " ") for s in SIGNALS if s in hot) + ".")
    if facts:
        parts.append("Facts: " + "; ".join(
            f"{x['category'].replace('_', ' ')} {x['value']}" for x in facts[-8:]) + ".")
    return " ".join(parts)
