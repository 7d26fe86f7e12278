"""Fraud's feature state across replicas: each customer's windows live in the store and this process keeps a
bounded cache of the hot ones; terminals, merchants and categories are shared by every replica (their customers
pay at the same shops), read from the store with a short TTL and added to, never overwritten.

Invariants:
- a customer's cached state is used only at the version stored: before a batch (and before an authorization
  score) the stored versions of its customers are read, and a customer not cached, or cached at another version
  (its partition was on another replica meanwhile), is loaded; after the batch each changed customer is written
  on the condition that the version read is still the stored one (`FraudRepository.save_customers`); a replica
  that lost that race raises `ConcurrentUpdateError` (transient: the runner retries the batch, which reloads);
- an entity in memory is at most `ttl_seconds` older than the store, plus this process's own additions not yet
  written; a batch adds its transactions and labels to the locked stored row and keeps the merged result;
- an entity's copy is known current when the stored row's version is the one it was read at or written as (every
  write raises it: `FraudRepository`): a batch then writes its copy, which already holds the batch's additions,
  without reading the row back, and a read due by the TTL reads versions alone, states only where they moved;
  a copy holding previewed labels, or read from an earlier version's row, is always merged as above;
- a batch whose store transaction did not commit leaves nothing behind: what it touched is evicted at the next
  `begin()` and loaded again;
- memory is bounded: between batches at most `customers` customers and `entities` entities of each kind stay
  cached (least recently used go first; a batch's own keys may exceed that until they are written).
Not thread-safe: the scorer calls it under its lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from services.fraud.events import Label
from services.fraud.features import FeatureEngine
from services.fraud.repository import FraudRepository
from services.fraud.windows import CustomerHistory, EntityActivity, EntityVolume, entity_state
from services.platform.errors import ConcurrentUpdateError

EntityKey = tuple[str, str]  # (kind, key): ("terminal", "T1"), ("merchant", "M1"), ("mcc", "5411")
FOREVER = -1e18  # a horizon start before any transaction (finite: states count in whole hours)
PREVIEWS = 1_000  # entities with previewed labels kept at most (oldest forgotten first)


@dataclass(frozen=True)
class CacheLimits:
    """`customers`: customers kept in memory; `entities`: entities of each kind; `ttl_seconds`: how stale a
    shared entity may be before it is read again."""

    customers: int = 1_000
    entities: int = 2_000
    ttl_seconds: float = 2.0


class FeatureStateCache:
    def __init__(self, engine: FeatureEngine, limits: CacheLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.limits = limits or CacheLimits()
        self.clock = clock
        self.versions: dict[str, int] = {}  # stored version of each cached customer (0: none stored yet)
        self.fetched: dict[EntityKey, float] = {}  # when each cached entity was read from the store
        self.entity_versions: dict[EntityKey, int] = {}  # the stored version each cached entity's copy is at
        # fraud labels shown over gRPC before the worker that consumes them wrote them: kept on top of what is read
        self.previewed: OrderedDict[EntityKey, list[tuple[float, str]]] = OrderedDict()  # (time, transaction id)
        self._written_customers: set[str] = set()  # written by the batch in hand, not known committed
        self._written_entities: set[EntityKey] = set()
        self._in_batch = False

    # ---- one batch ----------------------------------------------------------------------------------------
    def begin(self) -> None:
        """A batch starts: if the previous one's transaction did not commit, forget what it touched."""
        if self._in_batch:
            self.discard()
        self._in_batch = True

    def committed(self) -> None:
        """The batch's store transaction committed: what it wrote is the stored state."""
        self._written_customers.clear()
        self._written_entities.clear()
        self._in_batch = False

    def discard(self) -> None:
        """Evict everything changed since the last commit (it is loaded again from the store when needed)."""
        engine = self.engine
        customers = self._written_customers | {key for kind, key in engine.dirty if kind == "customer"}
        entities = (self._written_entities | {k for k in engine.dirty if k[0] != "customer"}
                    | set(engine.added_times) | set(engine.added_frauds))
        for cid in customers:
            engine.customers.pop(cid, None)
            self.versions.pop(cid, None)
        for kind, key in entities:
            engine.entities[kind].pop(key, None)
            self._forget((kind, key))
        engine.dirty.clear()
        engine.added_times.clear()
        engine.added_frauds.clear()
        self._written_customers.clear()
        self._written_entities.clear()

    # ---- reading --------------------------------------------------------------------------------------------
    def load(self, repo: FraudRepository, customer_ids: Iterable[str], entities: Iterable[EntityKey]) -> None:
        """Make the cached state of these customers the stored one, and these entities at most a TTL old."""
        engine = self.engine
        ids = set(customer_ids)
        if ids:
            stored = repo.customer_versions(ids)
            stale = [c for c in ids if self.versions.get(c) != stored.get(c, 0) or c not in engine.customers]
            loaded = repo.load_customer_states([c for c in stale if c in stored]) if stale else {}
            for cid in stale:
                version, state = loaded.get(cid, (0, None))
                engine.customers[cid] = state if state is not None else CustomerHistory()
                self.versions[cid] = version
        now = self.clock()
        due: dict[str, list[str]] = {}
        for kind, key in set(entities):
            if not key:
                continue
            fetched = self.fetched.get((kind, key))
            if fetched is None or now - fetched > self.limits.ttl_seconds or key not in engine.entities[kind]:
                due.setdefault(kind, []).append(key)
        for kind, keys in due.items():
            known = [key for key in keys if (kind, key) in self.entity_versions]
            stored = repo.entity_versions(kind, known) if known else {}
            current = {key for key in known if self._current(kind, key, stored.get(key))}
            for key in current:
                self.fetched[(kind, key)] = now
            moved = [key for key in keys if key not in current]
            rows = repo.load_entity_states(kind, moved) if moved else {}
            for key in moved:
                version, entity = rows.get(key) or (None, entity_state(kind)())
                self._install(kind, key, entity, version, now, merge_pending=True)

    def preview(self, label: Label) -> None:
        """A fraud label answered over gRPC: in this process's state at once, and kept over re-reads until the
        stored state has it (the worker that consumes the answer from `fraud-feedback` writes it)."""
        self.engine.preview_label(label)
        if label.fraud:
            for key in keys_of(label.terminal_id, label.merchant_id, label.mcc):
                self.previewed.setdefault(key, []).append((label.tx_ts, label.tx_id))
                self.previewed.move_to_end(key)
                self.entity_versions.pop(key, None)  # the copy holds more than the stored row now
            while len(self.previewed) > PREVIEWS:
                self.previewed.popitem(last=False)

    def _install(self, kind: str, key: str, entity: EntityActivity | EntityVolume, version: int | None, now: float,
                 merge_pending: bool) -> None:
        engine = self.engine
        previewed = self.previewed.get((kind, key))
        if previewed:
            stored = set(entity.fraud_ids)
            previewed[:] = [p for p in previewed if p[1] not in stored]
            if not previewed:
                del self.previewed[(kind, key)]
        times: list[float] = []
        frauds: list[tuple[float, str]] = list(previewed or ())
        if merge_pending:  # this process's additions not written yet stay on top of the stored state
            times = engine.added_times.get((kind, key), [])
            frauds += engine.added_frauds.get((kind, key), [])
        if times or frauds:
            entity.merge(times, frauds, self._horizon_start(times))
        engine.entities[kind][key] = entity
        engine.entities[kind].move_to_end(key)
        self.fetched[(kind, key)] = now
        if version is None or (kind, key) in self.previewed:
            self.entity_versions.pop((kind, key), None)  # never taken for current: merged at the next write
        else:
            self.entity_versions[(kind, key)] = version

    def _horizon_start(self, times: list[float]) -> float:
        """What a merge of these transaction times forgets: as the engine does in memory, what lies a horizon
        before the latest of them (nothing when there are none: labels alone forget nothing), so a state that
        went through the store gives the features it would have given in memory."""
        return max(times) - self.engine.config.horizon_seconds if times else FOREVER

    # ---- writing --------------------------------------------------------------------------------------------
    def persist(self, repo: FraudRepository) -> None:
        """Write what the batch changed: customers conditionally on their version, entities added to. Raises
        ConcurrentUpdateError (after evicting the batch's customers) when another replica wrote one first."""
        engine = self.engine
        customers = sorted(key for kind, key in engine.dirty if kind == "customer" and key in engine.customers)
        states = [(cid, self.versions.get(cid, 0), engine.customers[cid]) for cid in customers]
        self._written_customers.update(customers)
        lost = repo.save_customer_states(states)
        if lost:
            self.discard()
            raise ConcurrentUpdateError(f"fraud feature state of {len(lost)} customer(s) changed by another "
                                        f"replica (e.g. {min(lost)}): the batch is retried on the stored state")
        for cid, version, _state in states:
            self.versions[cid] = version + 1
        self._persist_entities(repo, sorted(set(engine.added_times) | set(engine.added_frauds)))
        engine.dirty.clear()
        self.trim()

    def _persist_entities(self, repo: FraudRepository, keys: list[EntityKey]) -> None:
        if not keys:
            return
        engine = self.engine
        self._written_entities.update(keys)
        repo.create_entities(keys)
        now = self.clock()
        written: list[tuple[str, str, EntityActivity | EntityVolume]] = []
        for kind in sorted({k for k, _ in keys}):
            names = [key for k, key in keys if k == kind]
            stored = repo.entity_versions(kind, names, lock=True)
            moved = {key for key in names if not self._current(kind, key, stored.get(key))}
            rows = repo.load_entity_states(kind, moved) if moved else {}  # locked by `entity_versions` above
            for key in names:
                version = stored.get(key, 0)
                if key in moved:  # another writer changed the row since this copy was read: add to what is stored
                    entity = (rows.get(key) or (None, entity_state(kind)()))[1]
                    times = engine.added_times.get((kind, key), [])
                    entity.merge(times, engine.added_frauds.get((kind, key), []), self._horizon_start(times))
                    self._install(kind, key, entity, version + 1, now, merge_pending=False)
                else:  # the copy is the stored row plus this batch's additions
                    entity = engine.entities[kind][key]
                    self.fetched[(kind, key)] = now
                    self.entity_versions[(kind, key)] = version + 1
                written.append((kind, key, entity))
        repo.save_entity_states(written)
        engine.added_times.clear()
        engine.added_frauds.clear()

    def _current(self, kind: str, key: str, stored: int | None) -> bool:
        """Whether the cached copy is the stored row (at `stored`, its version) plus this process's additions."""
        return (stored is not None and self.entity_versions.get((kind, key)) == stored
                and key in self.engine.entities[kind] and (kind, key) not in self.previewed)

    def _forget(self, key: EntityKey) -> None:
        self.fetched.pop(key, None)
        self.entity_versions.pop(key, None)

    # ---- bounds ---------------------------------------------------------------------------------------------
    def trim(self) -> None:
        """Evict the least recently used clean states beyond the limits."""
        engine = self.engine
        pending = engine.dirty | set(engine.added_times) | set(engine.added_frauds)
        for cid in _evict(engine.customers, self.limits.customers, {k for kind, k in pending if kind == "customer"}):
            self.versions.pop(cid, None)
        for kind, table in engine.entities.items():
            for key in _evict(table, self.limits.entities, {k for knd, k in pending if knd == kind}):
                self._forget((kind, key))


def _evict(table: OrderedDict[str, Any], limit: int, keep: Collection[str]) -> list[str]:
    excess = len(table) - limit
    if excess <= 0:
        return []
    victims: list[str] = []
    for key in table:
        if len(victims) == excess:
            break
        if key not in keep:
            victims.append(key)
    for key in victims:
        del table[key]
    return victims


def keys_of(terminal_id: str, merchant_id: str, mcc: str) -> list[EntityKey]:
    """The shared entities a transaction or label touches."""
    return [(kind, key) for kind, key in (("terminal", terminal_id), ("merchant", merchant_id), ("mcc", mcc)) if key]
