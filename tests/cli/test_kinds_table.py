"""The CLI's table of Flux kinds names the versions and plurals the API models serve."""

from __future__ import annotations

from sluice.api import kinds as api_kinds
from sluice.cli import kinds


def test_cli_coordinates_are_the_models_storage_version_and_plural() -> None:
    for (group, kind), (version, plural) in kinds.COORDINATES.items():
        info = api_kinds.kind_class(group, kind).info
        assert (version, plural) == (info.storage or info.versions[0], info.plural), kind
    served = {(cls.info.group, cls.info.kind) for cls in api_kinds.ALL_KINDS}
    assert set(kinds.COORDINATES) <= served  # ExternalArtifact has no CLI noun
