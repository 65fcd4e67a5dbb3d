"""Who sees what, written once: the checked scopes every read takes.

The rule: a caller sees its own park only (a city key: the parks of its city, each as
its operator sees it, read-only: a city key has no park of its own to write to, so an
acknowledgement answers 404). An operator sees all of its park; an enterprise
sees its own enterprise, and the park's aggregate (``_park``) only where the park's
registry entry sets ``share_park_totals`` and only as aggregate figures (KPIs, budgets):
alerts of park rules are the operator's. Anything else is answered **404**, the same as
what does not exist, so a key learns nothing about other parks or enterprises.

A scope is made only by the checks below (``ParkScope.check``, then ``SubjectScope.within``
or ``EnterpriseScope.within``), each of which applies the rule and raises 404; every
read in ``api.reads`` takes one and builds its query from it, so a route that skipped
the check has nothing to read with (mypy --strict refuses it). The API's dependencies
(``api.deps``) make them from the path and the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from fastapi import HTTPException

from api.keys import Caller
from smartpark.model import PARK_SCOPE
from smartpark.registry import Registry

NOT_FOUND = HTTPException(404, "not found")
_MADE_HERE = object()  # only the checks below construct scopes


def reads_park(registry: Registry, caller: Caller, park: str) -> bool:
    """Is ``park`` one of the caller's: its own park, or for a city key a park of its
    city?"""
    found = registry.parks.get(park)
    if found is None:
        return False
    return found.city == caller.park if caller.role == "city" else park == caller.park


def may_see(
    registry: Registry, caller: Caller, park: str, subject: str, *, aggregate: bool
) -> bool:
    """The visibility rule: may ``caller`` see ``subject`` (an enterprise id or ``_park``)
    of ``park``? ``aggregate``: the subject's figures (KPIs, budgets) rather than alerts."""
    if not reads_park(registry, caller, park):
        return False
    found = registry.parks[park]
    if subject == PARK_SCOPE:
        return caller.role in ("operator", "city") or (aggregate and found.share_park_totals)
    return caller.sees(subject) and any(e.id == subject for e in found.enterprises)


@dataclass(frozen=True, slots=True)
class ParkScope:
    """A park the caller may read, and through it what of the park it sees."""

    caller: Caller
    park: str
    registry: Registry
    made: object

    def __post_init__(self) -> None:
        if self.made is not _MADE_HERE:
            raise TypeError("scopes are made by their check(), never directly")

    @classmethod
    def check(cls, registry: Registry, caller: Caller, park: str) -> ParkScope:
        """The caller's scope in ``park``, or 404."""
        if not reads_park(registry, caller, park):
            raise NOT_FOUND
        return ParkScope(caller, park, registry, _MADE_HERE)

    def sees(self, subject: str, *, aggregate: bool) -> bool:
        """``may_see`` in this park."""
        return may_see(self.registry, self.caller, self.park, subject, aggregate=aggregate)

    def enterprises(self) -> list[str]:
        """The park's enterprise ids the caller sees, in registry order."""
        return [
            e.id
            for e in self.registry.parks[self.park].enterprises
            if self.sees(e.id, aggregate=False)
        ]

    def alert_subjects(self) -> list[str]:
        """Whose alerts the caller sees: its enterprises, and park rules' for operators."""
        park_rules = [PARK_SCOPE] if self.sees(PARK_SCOPE, aggregate=False) else []
        return self.enterprises() + park_rules


@dataclass(frozen=True, slots=True)
class SubjectScope(ParkScope):
    """The figures of an enterprise or of the park's aggregate (``_park``), which the
    caller sees."""

    subject: str

    @classmethod
    def within(cls, scope: ParkScope, subject: str) -> Self:
        """``subject``'s figures in an already checked park, or 404."""
        if not scope.sees(subject, aggregate=True):
            raise NOT_FOUND
        return cls(scope.caller, scope.park, scope.registry, _MADE_HERE, subject)


@dataclass(frozen=True, slots=True)
class EnterpriseScope(SubjectScope):
    """One enterprise of the park, which the caller sees (its figures and its own data)."""

    @classmethod
    def within(cls, scope: ParkScope, subject: str) -> Self:
        """Enterprise ``subject`` of an already checked park, or 404."""
        if subject == PARK_SCOPE or not scope.sees(subject, aggregate=False):
            raise NOT_FOUND
        return cls(scope.caller, scope.park, scope.registry, _MADE_HERE, subject)

    @property
    def enterprise(self) -> str:
        return self.subject


@dataclass(frozen=True, slots=True)
class CityScope:
    """A city a city key reads: the parks whose registry entry names it, each checked."""

    caller: Caller
    city: str
    parks: tuple[ParkScope, ...]
    made: object

    def __post_init__(self) -> None:
        if self.made is not _MADE_HERE:
            raise TypeError("scopes are made by their check(), never directly")

    @classmethod
    def check(cls, registry: Registry, caller: Caller, city: str) -> CityScope:
        """``city`` for its own city key, or 404 (any other key, any other city)."""
        if caller.role != "city" or caller.park != city:
            raise NOT_FOUND
        parks = tuple(ParkScope.check(registry, caller, p) for p, spec in registry.parks.items()
                      if spec.city == city)  # fmt: skip
        if not parks:
            raise NOT_FOUND
        return CityScope(caller, city, parks, _MADE_HERE)
