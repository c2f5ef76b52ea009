"""What ``streetlevel show`` prints: a scenario resolved, or only its differences from its base.

Both are TOML in the presets' style (:mod:`~.render`) and valid input to ``streetlevel run``:
the resolved scenario is a complete file; the differences are a file that names the same
base and, loaded, gives the same scenario again (where the base was a relative path, from the
folder of the file shown).

>>> print(show_scenario("denmark-2014", from_base=True).split("[scenario]")[0].strip())
# denmark-2014: what differs from its base, preset denmark-2006-2014 (comments: the base's values).
<BLANKLINE>
base = "denmark-2006-2014"
resolve_at = "2014"
"""

from __future__ import annotations

from pathlib import Path

from streetlevel.errors import ScenarioError
from streetlevel.scenario import inherit
from streetlevel.scenario.dates import resolve_data
from streetlevel.scenario.loading import resolve, resolved_text
from streetlevel.scenario.render import to_toml
from streetlevel.scenario.sources import load_layers

__all__ = ["show_scenario"]


def show_scenario(source: str | Path, *, from_base: bool = False) -> str:
    """A preset or scenario file as TOML: resolved (its bases merged in, every value written
    out), or with ``from_base`` only what it changes in its base.

    Raises:
        ScenarioError: for a scenario that does not load, or (``from_base``) has no base.
    """
    layers = load_layers(source)
    text = resolved_text(layers)  # validates: differences of a broken file would mislead
    if not from_base:
        return text
    top = layers[-1]
    if top.base is None:
        raise ScenarioError(f"{top.origin}: names no base, so it has no differences to show")
    base = layers[-2]
    before = resolve(layers[:-1])
    if top.resolve_at is not None:
        # Differences from the base as resolved, not from its timeline of dated values.
        before = resolve_data(before, top.resolve_at)
    found = inherit.differences(before, resolve(layers))
    data = {
        inherit.BASE_KEY: top.base,
        **({inherit.RESOLVE_KEY: str(top.resolve_at)} if top.resolve_at is not None else {}),
        **({inherit.REMOVE_KEY: found.removed} if found.removed else {}),
        **found.changed,
    }
    header = [
        f"# {top.name}: what differs from its base, {base.origin} (comments: the base's values)."
    ]
    return to_toml(data, header=[*header, ""], was=found.was, was_in=base.name)
