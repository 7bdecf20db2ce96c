"""``import fastio`` stays cheap: it adds to ``import asyncio`` only its own
modules and the few small ones it needs at once; anything heavy (tqdm for
the progress bar) is imported where it is used. The time it takes is
measured in bench/ (``bench/import_time.py``), not here."""

from __future__ import annotations

import json

from helpers import run_script

#: What ``import fastio`` may add to ``import asyncio`` besides its own
#: modules: json (for ``fastio.JSONDecodeError``) and ``__future__``.
ALLOWED = {"json", "_json", "__future__"}


def test_import_fastio_adds_little_to_import_asyncio() -> None:
    done = run_script(
        """
        import json, sys
        import asyncio
        before = set(sys.modules)
        import fastio
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    assert done.returncode == 0, done.stderr
    added = set(json.loads(done.stdout))
    foreign = {name for name in added if name.split(".")[0] not in {"fastio", *ALLOWED}}
    assert not foreign, f"import fastio also imports {sorted(foreign)}"


def test_the_progress_bar_imports_tqdm_when_it_is_drawn() -> None:
    done = run_script(
        """
        import asyncio, sys
        import fastio
        from fastio._progress import ProgressBar
        assert "tqdm" not in sys.modules
        async def main():
            bar = ProgressBar(1)
            bar.start()
            bar.close()
        asyncio.run(main())
        assert "tqdm" in sys.modules
        """
    )
    assert done.returncode == 0, done.stderr
