"""fastio.dask: fetch_all on a Dask LocalCluster of two worker processes,
against the embedded test server of this test process."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip(
    "distributed", reason="needs the dask extra: pip install '.[dask]'"
)
dask_dataframe = pytest.importorskip("dask.dataframe")
pandas = pytest.importorskip("pandas")

import fastio.dask  # noqa: E402 - after the extra is known to be there
from fastio._fastio import Server  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with (
        # ":0": its HTTP server on a free port (None still takes 8787, so
        # xdist workers' clusters collided there).
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def test_100000_urls_in_order_with_errors_as_rows(
    cluster: Any, server: Server, closed_port: int
) -> None:
    urls = [server.url + f"/bytes/{number % 100}" for number in range(100_000)]
    urls[5] = "not a url"
    urls[50_001] = f"http://127.0.0.1:{closed_port}/refused"
    results = fastio.dask.fetch_all(urls, partition_size=10_000, concurrency=100)
    assert isinstance(results, dask_dataframe.DataFrame)
    assert results.npartitions == 10
    frame = results.compute()
    assert len(frame) == 100_000
    assert list(frame["url"]) == urls
    assert frame.loc[5, "error_type"] == "InvalidURL"
    assert frame.loc[50_001, "error_type"] == "ConnectError"
    good = frame.drop(index=[5, 50_001])
    assert (good["status"] == 200).all()
    assert list(good["size"]) == [int(url.rsplit("/", 1)[1]) for url in good["url"]]
    assert good["error"].isna().all()
    counts = server.request_counts()
    assert sum(counts[f"/bytes/{size}"] for size in range(100)) == 99_998


def test_requests_and_dicts_of_their_fields(cluster: Any, server: Server) -> None:
    echo = server.url + "/echo"
    items = [
        fastio.Request("POST", echo, json={"n": 1}),
        {"method": "PUT", "url": echo, "data": "raw"},
        echo,
    ]
    frame = fastio.dask.fetch_all(items, partition_size=2, concurrency=2).compute()
    assert frame["error"].isna().all(), list(frame["error"])
    assert list(frame["method"]) == ["POST", "PUT", "GET"]
    assert list(frame["url"]) == [echo, echo, echo]
    assert (frame["status"] == 200).all()


def test_a_worker_killed_mid_run_loses_and_repeats_nothing(cluster: Any, server: Server) -> None:
    urls = [server.url + f"/delay/0.01?n={number}" for number in range(20_000)]
    results = fastio.dask.fetch_all(urls, partition_size=1_000, concurrency=50)
    pending = cluster.compute(results)
    time.sleep(1.5)
    victim = next(iter(cluster.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    frame = pending.result(timeout=240)
    assert list(frame["url"]) == urls
    assert (frame["status"] == 200).all()
    # Killed partitions ran again, so the server may have seen some URLs
    # twice; the result still has each exactly once.
    assert frame["url"].is_unique


def test_bags_and_dataframe_columns_and_parquet(
    cluster: Any, server: Server, tmp_path: Path
) -> None:
    import dask.bag

    urls = [server.url + f"/bytes/{number}" for number in range(50)]
    from_bag = fastio.dask.fetch_all(dask.bag.from_sequence(urls, npartitions=3)).compute()
    assert list(from_bag["size"]) == list(range(50))
    column = dask_dataframe.from_pandas(pandas.DataFrame({"link": urls}), npartitions=4)["link"]
    from_column = fastio.dask.fetch_all(column, timeout=5)
    from_column.to_parquet(tmp_path / "out")
    read = pandas.read_parquet(tmp_path / "out")
    assert list(read["url"]) == urls
    assert '"content-length":"7"' in read.iloc[7]["headers"].replace(" ", "")


def test_bad_arguments(cluster: Any) -> None:
    with pytest.raises(TypeError, match="urls must be"):
        fastio.dask.fetch_all("http://127.0.0.1/")
    with pytest.raises(ValueError, match="partition_size"):
        fastio.dask.fetch_all(["http://127.0.0.1/"], partition_size=0)
    with pytest.raises(TypeError, match="return_exceptions"):
        fastio.dask.fetch_all(["http://127.0.0.1/"], return_exceptions=False)
