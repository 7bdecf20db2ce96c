"""``fastio.dask.fetch_all``: fastio's ``fetch_all`` on a Dask cluster.

The URLs are split into partitions; each partition is one fastio
``fetch_all`` on a worker (every worker process has its own event loop per
task and its own fastio runtime), and the results come back as a lazy Dask
DataFrame of result records (:mod:`fastio.records`), in input order, ready
for ``.to_parquet()``. A failing URL is a row with ``error_type`` and
``error``, never a failed partition; a partition whose worker dies is run
again by Dask on another worker, and only its one successful run counts.

Needs the ``dask`` extra: ``pip install '.[dask]'`` (dask, distributed,
pandas, pyarrow).

Example::

    from dask.distributed import Client
    import fastio.dask

    client = Client("tcp://scheduler:8786")        # or Client() for a local cluster
    results = fastio.dask.fetch_all(urls, partition_size=10_000, concurrency=200)
    results.to_parquet("crawl/")                   # or results.compute()
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterable
from typing import Any

import orjson

import fastio
from fastio._fastio import DEFAULT_CONCURRENCY
from fastio.records import FIELDS, result_record

__all__ = ["META", "fetch_all", "fetch_partition"]

_EXTRA = ("dask", "distributed", "pandas", "pyarrow")
if any(importlib.util.find_spec(name) is None for name in _EXTRA):
    raise ImportError("fastio.dask needs the dask extra: pip install 'fastio[dask]'")

# After the check, so a missing extra gets the message above.
import dask  # noqa: E402
import dask.bag  # noqa: E402
import dask.dataframe  # noqa: E402
import pandas  # noqa: E402
from distributed import Client, LocalCluster, default_client  # noqa: E402

#: Column dtypes of the result DataFrame; ``headers`` and ``timings`` are
#: JSON objects as text.
DTYPES: dict[str, str] = {
    "url": "string",
    "final_url": "string",
    "method": "string",
    "status": "Int64",
    "reason": "string",
    "headers": "string",
    "elapsed": "float64",
    "timings": "string",
    "size": "Int64",
    "error_type": "string",
    "error": "string",
}

#: An empty frame with the result's columns and dtypes (Dask's ``meta``).
META = pandas.DataFrame({name: pandas.Series(dtype=DTYPES[name]) for name in FIELDS})


def _item(value: Any) -> str | fastio.Request:
    """A URL, a fastio.Request, or a dict of Request fields as a Request."""
    if isinstance(value, dict):
        fields = dict(value)
        return fastio.Request(fields.pop("method", "GET"), fields.pop("url"), **fields)
    return value  # type: ignore[no-any-return]


def fetch_partition(urls: pandas.Series, concurrency: int, fetch_kw: dict[str, Any]) -> Any:
    """Fetches one partition's URLs (or Requests) with fastio on this
    worker; one record per item, in order, with the partition's index."""
    items = [_item(value) for value in urls]

    async def fetch() -> list[Any]:
        results: list[Any] = await fastio.fetch_all(
            items, concurrency=concurrency, return_exceptions=True, **fetch_kw
        )
        return results

    results = asyncio.run(fetch())
    rows = []
    for given, item in zip(items, results, strict=True):
        url = given.url if isinstance(given, fastio.Request) else given
        record = result_record(item, url=url)
        for field in ("headers", "timings"):
            if record[field] is not None:
                record[field] = orjson.dumps(record[field]).decode()
        rows.append(record)
    frame = pandas.DataFrame(rows, columns=list(FIELDS), index=urls.index)
    return frame.astype(DTYPES)


def _url_series(urls: Any, partition_size: int) -> Any:
    """The URLs as a Dask Series of str, from a list (or any iterable), a
    Dask Bag or a Dask Series (a DataFrame column)."""
    if isinstance(urls, dask.dataframe.Series):
        return urls.astype("string")
    if isinstance(urls, dask.bag.Bag):
        frame = urls.map(lambda url: {"url": url}).to_dataframe(
            meta=pandas.DataFrame({"url": pandas.Series(dtype="string")})
        )
        return frame["url"]
    if isinstance(urls, str | bytes) or not isinstance(urls, Iterable):
        raise TypeError(
            f"urls must be a list of URLs, a Dask Bag or a Dask Series, not {type(urls).__name__}"
        )
    values = list(urls)
    if all(isinstance(value, str) for value in values):
        series = pandas.Series(values, name="url", dtype="string")
        return dask.dataframe.from_pandas(series, chunksize=partition_size, sort=False)
    # Requests (or dicts of their fields) stay objects: Dask would make
    # an object column into strings.
    with dask.config.set({"dataframe.convert-string": False}):
        series = pandas.Series(values, name="url", dtype="object")
        return dask.dataframe.from_pandas(series, chunksize=partition_size, sort=False)


def _ensure_client(dask_client: Client | str | None) -> Client:
    """The distributed client the result computes on: the given one (or a
    new one for an address), else the current default, else a new
    LocalCluster of worker processes."""
    if isinstance(dask_client, Client):
        return dask_client
    if isinstance(dask_client, str):
        return Client(dask_client)
    try:
        current: Client = default_client()
    except ValueError:
        current = Client(LocalCluster(processes=True))
    return current


def fetch_all(
    urls: Any,
    *,
    dask_client: Client | str | None = None,
    partition_size: int = 10_000,
    concurrency: int = DEFAULT_CONCURRENCY,
    **fetch_kw: Any,
) -> Any:
    """Fetches every URL on the Dask cluster; returns a lazy Dask DataFrame
    of result records (columns :data:`fastio.records.FIELDS`; ``headers``
    and ``timings`` as JSON text), one row per URL, in input order.

    ``urls``: a list (or any iterable) of URLs, :class:`fastio.Request`
    objects or dicts of their fields, a Dask Bag or a Dask Series.
    A list is split into partitions of ``partition_size``; a Bag or Series
    keeps its own partitions. Each partition is one fastio ``fetch_all`` with
    ``concurrency`` requests in flight on its worker; ``fetch_kw`` goes to
    it too (``method``, ``headers``, ``timeout``, ``retries``, ``verify``).

    ``dask_client``: a ``distributed.Client``, or a scheduler address; by
    default the current client, or else a new ``LocalCluster`` of worker
    processes on this machine. The result computes on the default client
    (``.compute()``, ``.to_parquet()``); a client made here becomes it.

    Example::

        frame = fastio.dask.fetch_all(urls, partition_size=20_000, timeout=10)
        failed = frame[frame["error"].notna()].compute()
    """
    if partition_size < 1:
        raise ValueError(f"partition_size must be at least 1, not {partition_size}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, not {concurrency}")
    for reserved in ("return_exceptions", "progress", "urls"):
        if reserved in fetch_kw:
            raise TypeError(f"fastio.dask.fetch_all does not take {reserved}=")
    _ensure_client(dask_client)
    series = _url_series(urls, partition_size)
    return series.map_partitions(
        fetch_partition,
        concurrency,
        fetch_kw,
        meta=META,
        enforce_metadata=False,
    )
