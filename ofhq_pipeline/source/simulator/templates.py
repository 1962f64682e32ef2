"""Chat message templates for the synthetic agency, each tagged with what it carries.

Fan templates carry the classifier's intent signals and personal facts (classifier.md), so the
chats the simulator serves contain exactly the cues the classifier is expected to find. Templates
are built compositionally from parts: a few hundred distinct texts from a few dozen phrases.

Placeholders filled when a message is rendered: `{creator}` (the creator's first name, in fan
messages), `{name}` (the fan's name, in creator messages) and `{amount}` (dollars, e.g. `25.00`).
"""

from __future__ import annotations

from dataclasses import dataclass

SIGNALS: tuple[str, ...] = (
    "ready_to_buy", "wants_custom", "price_question", "discount_request", "wants_more",
    "high_intent", "churn_risk", "escalation_intent", "trust_intent", "attention_intent",
    "status_intent", "emotional_support", "entertainment", "boundary_testing",
)

FACT_CATEGORIES: tuple[str, ...] = (
    "hobby", "pet_name", "food_drink", "occupation", "work_schedule", "location", "timezone",
    "language", "relationship_status", "body_preference", "sports_team", "birthday", "other",
)


@dataclass(frozen=True)
class Template:
    """One message text; `signals` and `fact` say what a reader of the chat should find in it."""

    text: str
    kind: str  # sampling group: smalltalk, signal, fact, pii, tip, chat, welcome, thanks, ppv, custom_ppv, mass_ppv, mass_free
    signals: tuple[str, ...] = ()
    fact: tuple[str, str] | None = None


# Intent phrases; a few carry two signals at once.
SIGNAL_PHRASES: dict[str, list[str | tuple[str, tuple[str, ...]]]] = {
    "ready_to_buy": [
        "ok send it", "send it over, I'm buying", "unlock it for me, I'm ready", "I'll take it",
        "yes please send the set", "where do I pay?", "sending the money now",
        "I want that one, send it",
    ],
    "wants_custom": [
        "do you do customs?", "can you make a custom video just for me?",
        ("how much for a custom with my name in it?", ("wants_custom", "price_question")),
        "could you do a custom in the red outfit?", "I'd love a personalised video from you",
        "can I request something specific?", "do you take custom requests?",
        "custom pic of you in my team's jersey?",
    ],
    "price_question": [
        "how much is it?", "what's the price?", "how much for the full set?",
        "how much for the video?", "what does the bundle cost?", "is it expensive?", "price?",
        "how much for everything you have?",
    ],
    "discount_request": [
        "any discount for a loyal fan?", "can you do it cheaper?", "is there a bundle deal?",
        "can I get it for $10?", "would you do 2 for 1?", "any sales coming up?",
        ("that's a bit much, can you lower it?", ("discount_request", "price_question")),
        "got a discount code?",
    ],
    "wants_more": [
        "more please", "I need more of that", "send more!", "is there a part 2?",
        "got anything else like that?", "that was amazing, more?", "can't get enough of you",
        "when's the next set coming?",
    ],
    "high_intent": [
        "money's not an issue for me", "I'll buy whatever you send tonight",
        ("send me everything you've got", ("high_intent", "wants_more")), "I want all of it",
        "I'll pay extra if it's good", "just tell me the total and I'll pay",
        "I buy from you every week", "unlock all of it, I don't care about the price",
    ],
    "churn_risk": [
        "I'm thinking about unsubscribing", "not sure I'll renew this month",
        "money's tight, might cancel", "I've been getting bored tbh",
        ("you never reply anymore, why should I stay", ("churn_risk", "attention_intent")),
        "this is probably my last month", "turning off auto renew", "found other pages honestly",
    ],
    "escalation_intent": [
        "can we video call?", "can I get your snap?", "do you have whatsapp?",
        "can we meet up sometime?", "let's talk on telegram", "are you ever in Vegas? we should meet",
        "can you call me?", "add me on insta",
    ],
    "trust_intent": [
        "is this really you?", "am I talking to you or a chatter?",
        "how do I know it's not an agency?", "prove it's you lol", "you sound different today",
        "is this actually {creator}?", "are you a real person?", "be honest, is this a bot?",
    ],
    "attention_intent": [
        "hello??", "why aren't you answering me", "you ignored my last message",
        "hey remember me?", "still waiting on a reply...", "notice me please",
        "did you see my message?", "answer me babe",
    ],
    "status_intent": [
        "am I your favourite?", "I'm your biggest fan right?", "bet I'm your top spender",
        "do I get VIP treatment?", "I've been here since day one",
        "do you remember me? I'm one of your oldest fans", "tell me I'm special",
        "I should be on your top fans list",
    ],
    "emotional_support": [
        "rough day at work today", "I've been feeling lonely lately",
        "talking to you is the best part of my day", "my dad is in the hospital",
        "can't sleep again", "had a panic attack earlier", "just need someone to talk to",
        "going through a breakup right now",
    ],
    "entertainment": [
        "lol you're hilarious", "tell me a joke", "haha that's so funny",
        "what are you watching tonight?", "that meme killed me 😂", "you're so much fun",
        "let's play a game", "would you rather: beach or mountains?",
    ],
    "boundary_testing": [
        "come on, just one without the filter", "send something you don't post anywhere",
        "why won't you show more, I paid", "just this once? nobody will know",
        "you said no but what if I pay double", "what's your real name?",
        "where do you live exactly?", "I know you can do more than that",
    ],
}

SMALLTALK_PHRASES: list[str] = [
    "hey", "hi {creator}", "good morning", "how was your day?", "what are you up to?",
    "you look amazing today", "just got home", "goodnight babe", "miss you", "that pic was incredible",
    "happy friday!", "how's the weather there?", "did you sleep well?", "what did you have for dinner?",
    "thanks for the message", "haha", "ok", "cool", "😍", "🔥🔥", "nice", "you're gorgeous",
    "love your new post", "long day", "just woke up", "how's your week going?", "you're so pretty",
    "I was just thinking about you", "what music are you into?", "any plans for the weekend?",
    "love that outfit", "you made my day", "same here", "lol", "morning {creator} ☀️",
    "sorry, was busy earlier", "back from the gym", "that smile though", "stay warm",
    "drive safe if you're going out",
]

# category -> (frames with {v}, values); the value is what the classifier should extract.
FACT_PARTS: dict[str, tuple[list[str], list[str]]] = {
    "hobby": (
        ["just got back from {v}", "spent the whole weekend {v}", "I'm really into {v} lately"],
        ["fishing", "hiking", "golfing", "gaming", "playing guitar", "cycling", "skiing",
         "rock climbing", "woodworking", "surfing"],
    ),
    "pet_name": (
        ["my dog {v} says hi", "walking my dog {v} right now", "my dog {v} keeps stealing my socks"],
        ["Max", "Bella", "Charlie", "Luna", "Rocky", "Daisy", "Cooper", "Milo", "Bear", "Duke"],
    ),
    "food_drink": (
        ["having {v} tonight", "I could live on {v}", "nothing beats {v} after work"],
        ["sushi", "pizza", "tacos", "a cold IPA", "bourbon", "ramen", "bbq ribs", "pho",
         "red wine", "mac and cheese"],
    ),
    "occupation": (
        ["I'm a {v}", "work as a {v}, long days", "being a {v} is exhausting"],
        ["nurse", "truck driver", "software engineer", "electrician", "firefighter", "teacher",
         "mechanic", "accountant", "chef", "paramedic"],
    ),
    "work_schedule": (
        ["I work {v} so sorry if I reply late", "just finished, I work {v}", "I work {v} this month"],
        ["nights", "12 hour shifts", "weekends", "early mornings", "two weeks on two weeks off",
         "from home"],
    ),
    "location": (
        ["I'm from {v}", "greetings from {v}", "it's raining again here in {v}"],
        ["Texas", "Ohio", "London", "Manchester", "Toronto", "Sydney", "Berlin", "Florida",
         "Chicago", "Dublin"],
    ),
    "timezone": (
        ["I'm on {v} time", "it's late here, I'm on {v}", "remember I'm on {v}"],
        ["EST", "PST", "CST", "GMT", "CET", "AEST"],
    ),
    "language": (
        ["sorry for my english, I'm {v}", "{v} is my first language", "I speak {v} at home"],
        ["German", "Spanish", "French", "Dutch", "Italian", "Portuguese"],
    ),
    "relationship_status": (
        ["I'm {v}", "been {v} for a while now", "being {v} is hard sometimes"],
        ["single", "divorced", "married", "separated", "widowed"],
    ),
    "body_preference": (
        ["I've always loved {v}", "you know I'm a sucker for {v}"],
        ["redheads", "freckles", "tattoos", "long legs", "curvy girls", "glasses"],
    ),
    "sports_team": (
        ["watching the {v} game tonight", "go {v}!!", "the {v} lost again ugh"],
        ["Packers", "Lakers", "Yankees", "Cowboys", "Chiefs", "Arsenal", "Celtics", "Eagles",
         "Liverpool"],
    ),
    "birthday": (
        ["my birthday is {v}", "it's my birthday on {v} 🎂", "don't forget {v} is my birthday"],
        ["March 14", "July 2", "October 30", "January 9", "May 21", "December 3", "August 17",
         "November 12"],
    ),
    "other": (
        ["just bought a {v}", "finally got my {v}", "saving up for a {v}"],
        ["new truck", "motorcycle", "boat", "house", "camper van"],
    ),
}

# Messages with contact details or card numbers: the classifier must redact them.
PII_PHRASES: list[tuple[str, tuple[str, ...]]] = [
    ("here's my email: mike.r88@example.com", ("escalation_intent",)),
    ("email me at jay_tx@example.net if you want", ("escalation_intent",)),
    ("text me +1 (555) 013-4477", ("escalation_intent",)),
    ("my number is 555-0199, call me tonight", ("escalation_intent",)),
    ("check my insta https://instagram.com/dave_rides", ("escalation_intent",)),
    ("saw this and thought of you https://example.com/gift", ("entertainment",)),
    ("my card 4111 1111 1111 1111 keeps getting declined", ("ready_to_buy",)),
    ("add me: www.example.org/profile/tom", ("escalation_intent",)),
]

TIP_PHRASES: list[str] = [
    "just sent you a ${amount} tip 💸", "${amount} for being so sweet", "here's a little something ❤️",
    "tip for you babe, ${amount}", "you deserve it 💰", "${amount} because you made my day",
    "sent you ${amount}, buy yourself something nice", "a tip for the custom 😘",
]

CREATOR_CHAT_PHRASES: list[str] = [
    "hey {name}! how's your day going?", "what are you up to tonight?", "you're so sweet",
    "haha stop 🙈", "I just finished a new shoot 📸", "I'm so glad you liked it!",
    "miss talking to you", "sorry for the late reply, crazy day", "tell me more about you {name}",
    "good morning babe ☀️", "what do you do for work?", "that's so cute", "omg really?",
    "you always make me smile", "just got out of the shower 🚿", "I'm so bored tonight, entertain me",
    "what kind of content do you like most?", "do you prefer photos or videos?", "hehe 😘",
    "thinking about you", "can't wait to show you what I made", "how was work?",
    "I love chatting with you {name}", "sleep well 💤", "you're one of my favourites",
    "aww thank you", "that's hilarious 😂", "tell me about your weekend",
    "I'm filming something special this week", "what should I wear next?",
]
WELCOME_PHRASES: list[str] = [
    "hey {name}! thanks for subscribing 💕", "welcome babe 😘 so happy you're here",
    "hi {name}, thank you for joining me! what made you subscribe?", "welcome to my page {name} 🥰",
    "hiii {name} 💋 glad to have you here",
]
THANKS_PHRASES: list[str] = [
    "thank you so much for the tip {name} 🥰", "omg thank you babe 💕", "you're too good to me",
    "thank you!! that made my day", "aww {name} you spoil me",
]
PPV_PHRASES: list[str] = [
    "I made something special just for you {name} 🔥 unlock to see",
    "new video 🎥 you won't want to miss this", "exclusive set, only for my favourites",
    "I think you'll love this one 😏", "just for you, don't share it", "unlock me 😘",
    "${amount} and it's all yours", "this one's a little naughty 🙈", "brand new, nobody has seen it yet",
    "full set, 12 pics 📸",
]
CUSTOM_PPV_PHRASES: list[str] = [
    "here's the custom you asked for {name} 😘", "your custom video is ready 🎬",
    "made this exactly how you wanted it", "your personal custom, hope you love it 💕",
]
MASS_PPV_PHRASES: list[str] = [
    "🔥 NEW: full set just dropped", "weekend special: unlock my newest video",
    "the video everyone's been asking for 😈", "limited drop, only today",
    "behind the scenes from my latest shoot 📸", "my hottest set yet, don't miss it",
]
MASS_FREE_PHRASES: list[str] = [
    "happy monday babes 💕", "who's up? 😏", "going live tonight at 9!", "new post on my wall 🔥",
    "what should I film next? tell me", "thank you all for the love this week 🥰",
]

_FAN_PREFIXES = ["", "hey {creator}, ", "babe ", "ok ", "honestly "]
_FAN_SUFFIXES = ["", " 😘", " lol", " 🔥", " !!", "<br>xx"]
_CREATOR_WRAPS = ["{}", "<p>{}</p>", "{} 💋", "{}<br>xoxo", "<b>{}</b>", "{} 💕"]


def _decorated(phrase: str, index: int, variants: int) -> list[str]:
    """`variants` distinct prefix/suffix combinations of a fan phrase, chosen by its position."""
    out: list[str] = []
    for k in range(variants):
        prefix = _FAN_PREFIXES[(index + k) % len(_FAN_PREFIXES)]
        suffix = _FAN_SUFFIXES[(2 * index + 3 * k) % len(_FAN_SUFFIXES)]
        body = phrase[0].lower() + phrase[1:] if prefix and phrase[:1].isalpha() else phrase
        text = prefix + body + suffix
        if text not in out:
            out.append(text)
    return out


def _wrapped(phrase: str, index: int, variants: int) -> list[str]:
    return list(dict.fromkeys(_CREATOR_WRAPS[(index + k) % len(_CREATOR_WRAPS)].format(phrase)
                              for k in range(variants)))


def _fan_templates() -> list[Template]:
    out: list[Template] = []
    for i, phrase in enumerate(SMALLTALK_PHRASES):
        out += [Template(t, "smalltalk") for t in _decorated(phrase, i, 3)]
    for signal, phrases in SIGNAL_PHRASES.items():
        for i, item in enumerate(phrases):
            phrase, signals = (item, (signal,)) if isinstance(item, str) else item
            out += [Template(t, "signal", signals) for t in _decorated(phrase, i, 3)]
    for category, (frames, values) in FACT_PARTS.items():
        for frame in frames:
            out += [Template(frame.format(v=v), "fact", fact=(category, v)) for v in values]
    out += [Template(text, "pii", signals) for text, signals in PII_PHRASES]
    out += [Template(text, "tip") for text in TIP_PHRASES]
    return out


def _creator_templates() -> list[Template]:
    out: list[Template] = []
    groups = [("chat", CREATOR_CHAT_PHRASES, 4), ("welcome", WELCOME_PHRASES, 3),
              ("thanks", THANKS_PHRASES, 3), ("ppv", PPV_PHRASES, 4),
              ("custom_ppv", CUSTOM_PPV_PHRASES, 3), ("mass_ppv", MASS_PPV_PHRASES, 3),
              ("mass_free", MASS_FREE_PHRASES, 3)]
    for kind, phrases, variants in groups:
        for i, phrase in enumerate(phrases):
            out += [Template(t, kind) for t in _wrapped(phrase, i, variants)]
    return out


FAN_TEMPLATES: list[Template] = _fan_templates()
CREATOR_TEMPLATES: list[Template] = _creator_templates()


def fact_frames(category: str) -> int:
    return len(FACT_PARTS[category][0])


def fact_template_index(category: str, frame: int, value: int) -> int:
    """Position in FAN_TEMPLATES of a fact template, so that one fan keeps one value per category."""
    return _FACT_START[category] + frame * len(FACT_PARTS[category][1]) + value


def _fact_starts() -> dict[str, int]:
    starts: dict[str, int] = {}
    for i, template in enumerate(FAN_TEMPLATES):
        if template.fact is not None:
            starts.setdefault(template.fact[0], i)
    return starts


_FACT_START = _fact_starts()
