"""Merchants and terminals: each Handbook terminal belongs to a merchant (MCC, country, online or not);
the bank adds cash machines and a few online gambling merchants."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from services.simulator import catalog
from services.simulator.handbook import TerminalProfiles

TERMINALS_PER_MERCHANT = 4
TERMINALS_PER_ATM = 50


@dataclass(frozen=True, eq=False)
class MerchantDirectory:
    """Merchant table and terminal table (index = position). Handbook terminal ``k`` is terminal ``k``."""

    merchant_ids: list[str]
    merchant_names: list[str]
    merchant_mcc: list[str]
    merchant_country: list[str]
    merchant_online: np.ndarray  # bool
    terminal_ids: list[str]
    terminal_merchant: np.ndarray  # int64 merchant index per terminal
    terminal_x_km: np.ndarray  # float64 (the Handbook plane; nan for online-only terminals)
    terminal_y_km: np.ndarray
    n_handbook_terminals: int
    atm_terminals: np.ndarray  # int64 terminal indices of the cash machines
    gambling_terminals: np.ndarray  # int64 terminal indices of the gambling merchants' web terminals

    def nearest_atm(self, x_km: np.ndarray, y_km: np.ndarray) -> np.ndarray:
        """Terminal index of the cash machine nearest to each point."""
        atm_xy = np.column_stack((self.terminal_x_km[self.atm_terminals], self.terminal_y_km[self.atm_terminals]))
        _, nearest = cKDTree(atm_xy).query(np.column_stack((x_km, y_km)))
        return self.atm_terminals[nearest]


def _weighted_choice(rng: np.random.Generator, options: list[str], weights: list[float], n: int) -> list[str]:
    p = np.asarray(weights, dtype=float)
    picks = rng.choice(len(options), size=n, p=p / p.sum())
    return [options[i] for i in picks]


def build_directory(terminals: TerminalProfiles, rng: np.random.Generator) -> MerchantDirectory:
    n_terminals = len(terminals)
    n_merchants = max(1, n_terminals // TERMINALS_PER_MERCHANT)
    categories = catalog.MERCHANT_CATEGORIES
    weights = np.array([c.weight for c in categories])
    category = rng.choice(len(categories), size=n_merchants, p=weights / weights.sum())
    online = np.array([categories[c].online for c in category], dtype=bool)
    countries = _weighted_choice(
        rng, [c for c, _ in catalog.ONLINE_COUNTRIES], [w for _, w in catalog.ONLINE_COUNTRIES], n_merchants
    )
    merchant_ids = [f"mer_{m:06d}" for m in range(n_merchants)]
    names = [f"{categories[c].label} {m:04d}" for m, c in enumerate(category)]
    mcc = [categories[c].mcc for c in category]
    country = [countries[m] if online[m] else catalog.HOME_COUNTRY for m in range(n_merchants)]
    # Every merchant gets at least one terminal when there are enough terminals; the rest at random.
    terminal_merchant = rng.permutation(
        np.concatenate((np.arange(min(n_merchants, n_terminals)), rng.integers(0, n_merchants, n_terminals)))
    )[:n_terminals]
    terminal_ids = [f"term_{t:06d}" for t in range(n_terminals)]
    x, y = list(terminals.x_km), list(terminals.y_km)

    # Cash machines: one bank-network merchant, spread over the plane.
    atm_merchant = len(merchant_ids)
    merchant_ids.append("mer_atm_network")
    names.append("Cash machine")
    mcc.append(catalog.ATM_MCC)
    country.append(catalog.HOME_COUNTRY)
    n_atms = max(4, n_terminals // TERMINALS_PER_ATM)
    atm_terminals = np.arange(len(terminal_ids), len(terminal_ids) + n_atms)
    terminal_ids += [f"atm_{a:05d}" for a in range(n_atms)]
    x += list(rng.uniform(0, 100, n_atms))
    y += list(rng.uniform(0, 100, n_atms))

    # Online gambling merchants (MCC 7995), one web terminal each.
    gambling_merchants = np.arange(len(merchant_ids), len(merchant_ids) + len(catalog.GAMBLING_MERCHANTS))
    gambling_terminals = np.arange(len(terminal_ids), len(terminal_ids) + len(catalog.GAMBLING_MERCHANTS))
    for g, name in enumerate(catalog.GAMBLING_MERCHANTS):
        merchant_ids.append(f"mer_gmb_{g:02d}")
        names.append(name)
        mcc.append(catalog.GAMBLING_MCC)
        country.append(catalog.HOME_COUNTRY)
        terminal_ids.append(f"web_gmb_{g:02d}")
        x.append(float("nan"))
        y.append(float("nan"))

    merchant_of_terminal = np.concatenate(
        (terminal_merchant, np.full(n_atms, atm_merchant), gambling_merchants)
    ).astype(np.int64)
    merchant_online = np.concatenate((online, [False], np.ones(len(gambling_merchants), dtype=bool)))
    return MerchantDirectory(
        merchant_ids=merchant_ids,
        merchant_names=names,
        merchant_mcc=mcc,
        merchant_country=country,
        merchant_online=merchant_online,
        terminal_ids=terminal_ids,
        terminal_merchant=merchant_of_terminal,
        terminal_x_km=np.asarray(x, dtype=float),
        terminal_y_km=np.asarray(y, dtype=float),
        n_handbook_terminals=n_terminals,
        atm_terminals=atm_terminals.astype(np.int64),
        gambling_terminals=gambling_terminals.astype(np.int64),
    )
