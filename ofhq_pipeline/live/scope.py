"""Which sections of the live page a member sees, and for which creators.

The roles are the ones `ofhq access` manages (warehouse/access.py), with the same meaning as in
the Postgres marts:

- `agency`: every section, every creator;
- `cfo`: the money views only (counts, revenue, purchases, creators, data flows), every creator:
  none of the classifier's reading (stages, temperature, next best actions) nor messages;
- `employee`: every fan view, only for the creators assigned to him; not the data flows, which
  are agency-wide.

Roles add up per section, as they do per table in Postgres: a member sees a section for the
creators of every role of his that grants it (an employee who is also CFO sees every creator's
revenue and only his creators' stages).
"""

from __future__ import annotations

from dataclasses import dataclass

from ofhq_pipeline.warehouse.access import MemberAccess

SECTIONS = ("counts", "revenue", "purchases", "creators", "stages", "temperature", "actions",
            "flows")
MONEY_SECTIONS = frozenset({"counts", "revenue", "purchases", "creators", "flows"})
ROLE_SECTIONS: dict[str, frozenset[str]] = {
    "agency": frozenset(SECTIONS),
    "cfo": MONEY_SECTIONS,
    "employee": frozenset(SECTIONS) - {"flows"},
}
# Fields of a live purchase shown only with the section they belong to.
PURCHASE_FIELDS_BY_SECTION = {"temperature": "temperature"}


@dataclass(frozen=True)
class Scope:
    """Per section, the creators shown: None for every creator; absent when not shown."""

    sections: dict[str, frozenset[str] | None]

    def shows(self, section: str) -> bool:
        return section in self.sections

    def creators(self, section: str) -> frozenset[str] | None:
        return self.sections[section]

    def allows(self, section: str, creator_id: str) -> bool:
        if section not in self.sections:
            return False
        creators = self.sections[section]
        return creators is None or creator_id in creators


def scope_of(access: MemberAccess) -> Scope:
    sections: dict[str, frozenset[str] | None] = {}
    for role in access.roles:
        creators = frozenset(access.creators) if role == "employee" else None
        for section in ROLE_SECTIONS.get(role, ()):
            if creators is None or (section in sections and sections[section] is None):
                sections[section] = None  # every creator
            else:
                sections[section] = (sections.get(section) or frozenset()) | creators
    return Scope({s: sections[s] for s in SECTIONS if s in sections})
