"""The caller inventory (migration/model/callers.toml) against QEMU's own source.

Debian's source packages of QEMU 7.2 and 10.0.2 are downloaded (cached in
``/var/cache/qomsim/qemu-source``), the C files that matter are read out of them and parsed with
tree-sitter (``tests/qemu_source.py``), and every call site found must be in the inventory, and every
entry of the inventory in the source.  Without ``deb-src`` entries the test skips, or fails under
``QOMSIM_REQUIRE_QEMU=1`` (CI adds them with ``.ci/install-qemu-sources.sh``).
"""

from __future__ import annotations

import csource
import pytest
from qemu_helpers import qemu_required

pytestmark = pytest.mark.qemu_source


def _facts(tag: str) -> object:
    import qemu_source

    tree = next(one for one in qemu_source.TREES if one.tag == tag)
    try:
        return qemu_source.source_facts(tree)
    except qemu_source.Unavailable as exc:
        if qemu_required():
            pytest.fail(f"QEMU {tag} source: {exc}, and QOMSIM_REQUIRE_QEMU=1 requires it")
        pytest.skip(f"QEMU {tag} source: {exc}")


@pytest.mark.parametrize("tag", ["7.2", "10.0.2"])
def test_every_call_site_is_in_the_inventory_and_nothing_else(tag: str) -> None:
    import qemu_source

    from migration.model.callers import load

    facts = _facts(tag)
    assert isinstance(facts, qemu_source.SourceFacts)
    inventory = load()
    listed = [csource.CallSite(site.caller, site.callee) for site in inventory.at(tag)]
    problems = csource.differences(tag, facts.sites, listed)
    helpers_found, helpers_listed = sorted(facts.helpers), sorted(inventory.helpers[tag])
    problems += [f"{tag}: helper {name} reads the object but is not in [helpers]"
                 for name in helpers_found if name not in helpers_listed]
    problems += [f"{tag}: helper {name} is in [helpers] but does not read the object"
                 for name in helpers_listed if name not in helpers_found]
    assert not problems, "\n".join(problems)
