"""Assets (Airflow 3) and datasets (Airflow 2): data-aware scheduling.

A task's ``outlets`` name the assets it updates; each successful try records one asset event
per outlet asset (and one per asset added through an ``AssetAlias``). A DAG whose ``schedule``
is an asset condition (a list means all of them; ``|`` and ``&`` combine) gets a run once
every asset the condition needs has a new event. Conditions are JSON when serialized, and the
decision over them is pure (``runtime.rules.assets``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runtime.sdk.timetables import DagRunInfo, DataInterval, Timetable, from_serialized


class BaseAsset:
    """Something a schedule can wait on: an asset, an alias, or an all/any combination."""

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)

    def as_json(self) -> dict[str, Any]:
        """The condition as JSON (what the scheduler evaluates)."""
        raise NotImplementedError

    def iter_assets(self) -> Iterator[Asset]:
        """Every asset the condition names."""
        return iter(())


class Asset(BaseAsset):
    """A piece of data, known by name and URI (either one defaults to the other)."""

    def __init__(self, name: str | None = None, uri: str | None = None, *, group: str = "asset",
                 extra: dict[str, Any] | None = None, watchers: Any = None, **kwargs: Any) -> None:
        if name is None and uri is None:
            raise TypeError("Asset() requires either 'name' or 'uri'")
        self.name = str(name if name is not None else uri)
        self.uri = str(uri if uri is not None else name)
        if not self.uri or self.uri.isspace():
            raise ValueError("Asset URI must not be empty")
        self.group = group
        self.extra = dict(extra or {})
        self.watchers = list(watchers or [])

    @property
    def key(self) -> str:
        """The identity the store and the scheduler use."""
        return self.uri

    def as_json(self) -> dict[str, Any]:
        return {"asset": self.uri, "name": self.name}

    def iter_assets(self) -> Iterator[Asset]:
        yield self

    @staticmethod
    def ref(*, name: str | None = None, uri: str | None = None) -> Asset:
        """A reference to an asset defined elsewhere (``Asset.ref(name=...)``)."""
        return Asset(name=name, uri=uri)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(("asset", self.uri))

    def __repr__(self) -> str:
        return f"Asset(name={self.name!r}, uri={self.uri!r})"


class Dataset(Asset):
    """Airflow 2's name for an asset: known by its URI."""

    def __init__(self, uri: str, extra: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", None) or uri, uri=uri, extra=extra, **kwargs)


AssetNameRef = AssetUriRef = AssetRef = Asset


class AssetAlias(BaseAsset):
    """A name tasks attach asset events to at run time; schedules on it wait for those events."""

    def __init__(self, name: str, group: str = "asset") -> None:
        if not name or name.isspace():
            raise ValueError("AssetAlias name must not be empty")
        self.name = name
        self.group = group

    def as_json(self) -> dict[str, Any]:
        return {"alias": self.name}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetAlias) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("alias", self.name))

    def __repr__(self) -> str:
        return f"AssetAlias(name={self.name!r})"


DatasetAlias = AssetAlias


class _Combination(BaseAsset):
    kind = ""

    def __init__(self, *objects: BaseAsset) -> None:
        for obj in objects:
            if not isinstance(obj, BaseAsset):
                raise TypeError(f"{type(self).__name__} takes assets, aliases or conditions, got {type(obj).__name__}")
        self.objects = list(objects)

    def as_json(self) -> dict[str, Any]:
        return {self.kind: [o.as_json() for o in self.objects]}

    def iter_assets(self) -> Iterator[Asset]:
        for obj in self.objects:
            yield from obj.iter_assets()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"


class AssetAll(_Combination):
    """Every one of the conditions."""

    kind = "all"

    def __and__(self, other: BaseAsset) -> AssetAll:
        return AssetAll(*self.objects, other) if isinstance(other, BaseAsset) else NotImplemented


class AssetAny(_Combination):
    """At least one of the conditions."""

    kind = "any"

    def __or__(self, other: BaseAsset) -> AssetAny:
        return AssetAny(*self.objects, other) if isinstance(other, BaseAsset) else NotImplemented


DatasetAll, DatasetAny = AssetAll, AssetAny


def as_condition(schedule: Any) -> BaseAsset:
    """A DAG's asset schedule as one condition (a list means all of its items)."""
    if isinstance(schedule, BaseAsset):
        return schedule
    items = list(schedule)
    if not items:
        raise ValueError("an asset schedule needs at least one asset")
    return AssetAll(*items)


def condition_keys(condition: dict[str, Any]) -> set[str]:
    """The keys (``asset:<uri>``, ``alias:<name>``) a serialized condition names."""
    if "asset" in condition:
        return {f"asset:{condition['asset']}"}
    if "alias" in condition:
        return {f"alias:{condition['alias']}"}
    return {k for part in condition.get("all", condition.get("any", [])) for k in condition_keys(part)}


# -- timetables ---------------------------------------------------------------------------------


class AssetTriggeredTimetable(Timetable):
    """``schedule=[assets]``: never scheduled by time; runs come from asset events."""

    summary = "Asset"

    def __init__(self, condition: BaseAsset) -> None:
        self.asset_condition = condition

    def serialize(self) -> dict[str, Any]:
        return {"type": "asset", "condition": self.asset_condition.as_json()}


DatasetTriggeredTimetable = AssetTriggeredTimetable


class AssetOrTimeSchedule(Timetable):
    """Runs on a timetable and also whenever the asset condition is met."""

    def __init__(self, *, timetable: Timetable, assets: Any = None, datasets: Any = None) -> None:
        self.timetable = timetable
        self.asset_condition = as_condition(assets if assets is not None else datasets)
        self.summary = f"Asset or {timetable.summary}"
        self.periodic = timetable.periodic
        self.can_be_scheduled = timetable.can_be_scheduled

    def next_dagrun_info(self, **kwargs: Any) -> DagRunInfo | None:
        return self.timetable.next_dagrun_info(**kwargs)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return self.timetable.infer_manual_data_interval(run_after)

    def _get_prev(self, current: datetime) -> Any:
        return self.timetable._get_prev(current)  # type: ignore[attr-defined]

    def serialize(self) -> dict[str, Any]:
        return {"type": "asset_or_time", "timetable": self.timetable.serialize(), "condition": self.asset_condition.as_json()}


DatasetOrTimeSchedule = AssetOrTimeSchedule


def condition_from_json(data: dict[str, Any]) -> BaseAsset:
    """Rebuild a condition object from its JSON."""
    if "asset" in data:
        return Asset(name=data.get("name"), uri=data["asset"])
    if "alias" in data:
        return AssetAlias(data["alias"])
    parts = [condition_from_json(p) for p in data.get("all", data.get("any", []))]
    return AssetAll(*parts) if "all" in data else AssetAny(*parts)


def timetable_from_serialized(data: dict[str, Any]) -> Timetable:
    """The asset timetables of ``Timetable.serialize()``."""
    condition = condition_from_json(data["condition"])
    if data["type"] == "asset":
        return AssetTriggeredTimetable(condition)
    return AssetOrTimeSchedule(timetable=from_serialized(data["timetable"]), assets=condition)


def asset_condition_of(serialized_timetable: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON condition of a serialized timetable, or None when runs do not come from assets."""
    return serialized_timetable.get("condition") if serialized_timetable.get("type") in ("asset", "asset_or_time") else None


# -- events at run time -------------------------------------------------------------------------


@dataclass
class Metadata:
    """Yielded by a task: the extra of its event for ``asset`` (through ``alias`` if given)."""

    asset: Any
    extra: dict[str, Any]
    alias: AssetAlias | None = None


@dataclass
class OutletEventAccessor:
    """``outlet_events[asset]``: the extra of the event this try records; ``.add`` for aliases."""

    key: BaseAsset
    extra: dict[str, Any] = field(default_factory=dict)
    added: list[tuple[Asset, dict[str, Any]]] = field(default_factory=list)

    def add(self, asset: Asset, extra: dict[str, Any] | None = None) -> None:
        """Through an alias: record an event for ``asset`` with ``extra``."""
        if not isinstance(asset, Asset):
            raise TypeError(f"outlet_events[...].add() takes an Asset, got {type(asset).__name__}")
        self.added.append((asset, dict(extra or {})))


class OutletEventAccessors:
    """``outlet_events`` in the context: one accessor per asset or alias, made on first use."""

    def __init__(self) -> None:
        self._by_key: dict[BaseAsset, OutletEventAccessor] = {}

    def __getitem__(self, key: BaseAsset) -> OutletEventAccessor:
        if isinstance(key, str):
            key = Asset(key)
        if key not in self._by_key:
            self._by_key[key] = OutletEventAccessor(key)
        return self._by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[BaseAsset]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def apply_metadata(self, item: Metadata) -> None:
        """A yielded Metadata: set the extra of its asset's event (or add it through its alias)."""
        asset = item.asset if isinstance(item.asset, Asset) else Asset(str(item.asset))
        self[asset].extra.update(item.extra)
        if item.alias is not None:
            self[item.alias].add(asset, item.extra)


def outlet_events_of(outlets: Iterable[Any], accessors: OutletEventAccessors) -> list[dict[str, Any]]:
    """The events a successful try records: one per outlet asset, plus those added through aliases."""
    events: list[dict[str, Any]] = []
    for outlet in outlets:
        if isinstance(outlet, Asset):
            extra = accessors[outlet].extra if outlet in accessors else {}
            events.append({"uri": outlet.uri, "name": outlet.name, "extra": dict(extra), "alias": None})
        elif isinstance(outlet, AssetAlias) and outlet in accessors:
            for asset, extra in accessors[outlet].added:
                events.append({"uri": asset.uri, "name": asset.name, "extra": extra, "alias": outlet.name})
    return events


@dataclass
class AssetEvent:
    """An asset event as tasks read it (``inlet_events``, ``triggering_asset_events``)."""

    uri: str
    name: str
    extra: dict[str, Any]
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int = -1
    source_alias_name: str | None = None
    timestamp: datetime | None = None

    @property
    def asset(self) -> Asset:
        return Asset(name=self.name, uri=self.uri)

    dataset = asset

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssetEvent:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


class InletEventsAccessors:
    """``inlet_events[asset]``: the asset's recorded events, oldest first (through the task's services)."""

    def __init__(self, fetch: Callable[[str | None, str | None], list[dict[str, Any]]]) -> None:
        self._fetch = fetch

    def __getitem__(self, key: Any) -> list[AssetEvent]:
        if isinstance(key, AssetAlias):
            return self.for_alias(key.name)
        if isinstance(key, Asset):
            return self.for_asset(uri=key.uri)
        return self.for_asset(uri=str(key))

    def for_asset(self, name: str | None = None, uri: str | None = None) -> list[AssetEvent]:
        """Events of the asset with this URI (or name)."""
        return [AssetEvent.from_dict(e) for e in self._fetch(uri or name, None)]

    def for_alias(self, name: str) -> list[AssetEvent]:
        """Events recorded through the alias ``name``."""
        return [AssetEvent.from_dict(e) for e in self._fetch(None, name)]


def inlet_events_for(services: Any) -> InletEventsAccessors:
    """The inlet accessor of a task whose services may or may not store asset events."""
    fetch = getattr(services, "asset_events", None)
    return InletEventsAccessors(fetch if fetch is not None else (lambda uri, alias: []))


class TriggeringEvents(Mapping[Asset, list[AssetEvent]]):
    """``triggering_asset_events``: read from the task's services on first use (most tasks never look)."""

    def __init__(self, fetch: Callable[[], list[dict[str, Any]]]) -> None:
        self._fetch = fetch
        self._events: dict[Asset, list[AssetEvent]] | None = None

    def _loaded(self) -> dict[Asset, list[AssetEvent]]:
        if self._events is None:
            self._events = triggering_events(self._fetch())
        return self._events

    def __getitem__(self, key: Asset) -> list[AssetEvent]:
        return self._loaded()[key if not isinstance(key, str) else Asset(key)]

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return repr(self._loaded())


def triggering_events_for(services: Any, dag_id: str, run_id: str) -> TriggeringEvents:
    """The lazy ``triggering_asset_events`` of a run (empty when the services store no asset events)."""
    fetch = getattr(services, "triggering_asset_events", None)
    return TriggeringEvents(lambda: fetch(dag_id, run_id) if fetch is not None else [])


def triggering_events(events: list[dict[str, Any]]) -> dict[Asset, list[AssetEvent]]:
    """``triggering_asset_events``: the events that created this run, by asset."""
    out: dict[Asset, list[AssetEvent]] = {}
    for raw in events:
        event = AssetEvent.from_dict(raw)
        out.setdefault(event.asset, []).append(event)
    return out


# -- the @asset decorator -----------------------------------------------------------------------


class _AssetDefinition(Asset):
    """What ``@asset`` returns: the asset, plus the DAG (same name) whose one task produces it."""

    dag: Any = None


def _asset_dag(func: Callable[..., Any], assets: list[Asset], schedule: Any, dag_kwargs: dict[str, Any]) -> Any:
    from runtime.compat.api import DAG as Dag3
    from runtime.sdk.decorators import task as task_ns

    params = [p for p in inspect.signature(func).parameters if p not in ("self", "context")]
    inlets = [Asset(name=p) for p in params]

    def produce(**context: Any) -> Any:
        kwargs: dict[str, Any] = {p: i for p, i in zip(params, inlets, strict=True)}
        wanted = inspect.signature(func).parameters
        if "self" in wanted:
            kwargs["self"] = assets[0] if len(assets) == 1 else assets
        if "context" in wanted:
            kwargs["context"] = context
        return func(**kwargs)

    functools.update_wrapper(produce, func)
    produce.__signature__ = inspect.Signature([inspect.Parameter("context", inspect.Parameter.VAR_KEYWORD)])  # type: ignore[attr-defined]
    with Dag3(func.__name__, schedule=schedule, **dag_kwargs) as dag:
        task_ns(produce, task_id=func.__name__, outlets=list(assets), inlets=inlets)()
    return dag


class _AssetDecorator:
    """``@asset(schedule=...)`` and ``@asset.multi(outlets=[...], schedule=...)``."""

    def __call__(self, func: Callable[..., Any] | None = None, *, schedule: Any, name: str | None = None,
                 uri: str | None = None, group: str = "asset", extra: dict[str, Any] | None = None, **dag_kwargs: Any) -> Any:
        def wrap(f: Callable[..., Any]) -> Asset:
            defined = _AssetDefinition(name=name or f.__name__, uri=uri, group=group, extra=extra)
            defined.dag = _asset_dag(f, [defined], schedule, dag_kwargs)
            return defined

        return wrap(func) if func is not None else wrap

    def multi(self, *, outlets: list[Asset], schedule: Any, **dag_kwargs: Any) -> Callable[..., Any]:
        """One task producing several assets."""

        def wrap(f: Callable[..., Any]) -> Any:
            return _asset_dag(f, list(outlets), schedule, dag_kwargs)

        return wrap


asset = _AssetDecorator()

__all__ = [
    "Asset", "AssetAlias", "AssetAll", "AssetAny", "BaseAsset", "Dataset", "DatasetAlias", "DatasetAll", "DatasetAny",
    "Metadata", "AssetTriggeredTimetable", "DatasetTriggeredTimetable", "AssetOrTimeSchedule", "DatasetOrTimeSchedule",
    "AssetEvent", "OutletEventAccessors", "InletEventsAccessors", "asset", "as_condition", "condition_keys",
    "outlet_events_of", "triggering_events", "triggering_events_for", "TriggeringEvents", "inlet_events_for", "asset_condition_of", "AssetRef", "AssetNameRef",
    "AssetUriRef",
]
