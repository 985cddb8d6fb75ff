"""The README's "Testing your consumers" block runs as written (its test passes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from parafka.testing import Harness

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_testing_example_passes() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Testing your consumers\n") :]
    section = section[: section.index("\n## ", 1)]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in the README's Testing your consumers section"
    namespace: dict[str, Any] = {"__name__": "readme_testing"}
    exec(compile(match.group(1), "README.md", "exec"), namespace)
    made: list[Harness] = []

    def parafka_harness(app: Any, **options: Any) -> Harness:
        made.append(Harness(app, **options))
        return made[-1]

    try:
        namespace["test_orders"](parafka_harness)
    finally:
        for harness in made:
            harness.close()
    assert len(made) == 1
