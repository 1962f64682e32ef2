"""What redaction costs a message before it leaves the machine: ordinary chat lines (the
simulator's templates) and hostile inputs built to make patterns backtrack, in µs per message."""

from __future__ import annotations

import time

from ofhq_pipeline.intelligence.redact import clean_text
from ofhq_pipeline.source.simulator.templates import CREATOR_TEMPLATES, FAN_TEMPLATES

HOSTILE = {
    "spaced digits": "1 " * 25_000,
    "dotted digits": "1.1." * 12_500,
    "long digit run": "4" * 50_000,
    "spoken e-mail parts": "a at b dot " * 5_000,
    "street words": "12 main main main " * 3_000,
    "at signs": "a@" * 25_000,
    "app prefixes": "snap: " * 8_000,
    "phone-like groups": ("123 " * 3 + "4567 ") * 3_000,
}


def per_message_us(texts: list[str], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        for i, text in enumerate(texts):
            clean_text(f"{text} {i}", name="Jessica Mills", username="jess_m")
    return (time.perf_counter() - start) / (len(texts) * repeat) * 1e6


def main() -> None:
    ordinary = [t.text for t in FAN_TEMPLATES + CREATOR_TEMPLATES]
    print(f"== redaction: ordinary chat lines {per_message_us(ordinary, 20):.0f} µs a message "
          f"({len(ordinary)} templates)")
    worst = max((per_message_us([text], 1) / 1000, name) for name, text in HOSTILE.items())
    print(f"hostile 25-50k character inputs: worst {worst[0]:.0f} ms ({worst[1]})")


if __name__ == "__main__":
    main()
