"""P11: import a whole cluster's hosts table (QluMan's dnsmasq.hosts form) into an empty
inventory, against loading the same inventory from inventory.toml (no cache).

The hosts table is written from the generated cluster's inventory (every host on each of its
networks, derived names on the slave networks, aliases on their network's line), so the
import has to rebuild exactly that inventory: the row fails when it does not.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from bench.core import Context, Result, interleaved, ratio_row

if TYPE_CHECKING:
    from qlutui.model.inventory import Host, Inventory

IMPORT_RATIO = 3.0  # the import may cost at most this many loads of the same inventory


def hosts_table(inventory: Inventory) -> str:
    from qlutui.model.inventory import host_names

    lines = []
    for network in inventory.networks:
        lines.append(f"# Network: {network.name.capitalize()}")
        for host in inventory.hosts:
            if network.name in host.ips:
                names = " ".join(host_names(inventory, host, network))
                lines.append(f"{host.ips[network.name]}\t{names}")
    return "\n".join(lines) + "\n"


def _names(host: Host) -> tuple:
    """What a hosts table says of a host: a hostname override is one more name on its
    network's line, so it comes back as an alias."""
    names = {net: set(aliases) for net, aliases in host.aliases.items()}
    if host.override:
        names.setdefault(host.override_network, set()).add(host.override)
    return host.name, host.ips, names


def import_hosts_table(ctx: Context) -> list[Result]:
    from qlutui.backend.cluster import Cluster
    from qlutui.model.inventory import Inventory
    from qlutui.model.inventory_import import ImportSource, plan_import

    config = ctx.config
    inventory = Cluster.open(config).inventory()
    text = hosts_table(inventory)
    source = [ImportSource("hosts", "dnsmasq.hosts", text)]

    def load() -> None:
        shutil.rmtree(config.parent / "state" / ".cache", ignore_errors=True)
        Cluster.open(config).inventory()

    imports, loads = interleaved(ctx.scale.reps, lambda: plan_import(Inventory(), source), load)
    plan = plan_import(Inventory(), source)
    same = [_names(h) for h in plan.inventory.hosts] == [_names(h) for h in inventory.hosts]
    lines = text.count("\n")
    return [
        ratio_row(
            "P11",
            f"import a {len(inventory.hosts):,}-host dnsmasq.hosts ({lines:,} lines)",
            "loading that inventory from inventory.toml (no cache)",
            IMPORT_RATIO,
            imports,
            loads,
            ok=same and not plan.unusable,
            detail=("" if same else "the imported inventory differs!")
            + (f"; {len(plan.unusable)} lines not used!" if plan.unusable else ""),
        )
    ]
