"""Simulator worlds that are more than a set of arms: instances with their own schedule of changes.

``banditops.bandit.arms.SCENARIOS`` names arm sets that the environment service can serve; a
world here is a whole :class:`~banditops.sim.simulation.Instance` (arms, changes, horizon) that
only the simulators play, named in ``banditops simulate --scenario``.

The slowly varying world
------------------------
Abrupt changes reward a policy that restarts; a world that drifts by many small steps punishes
one that restarts too eagerly, because every restart throws away what is still nearly true and
pays the learning phase again. :func:`slowly_varying` is that world: five Gaussian arms (σ = 1)
around means 1..5 whose means follow a reflected random walk, a Brownian restless bandit
(Slivkins & Upfal 2008) discretised in steps. Every ``step_every`` pulls each arm's mean moves by
a N(0, ``step_sd``²) step, reflected into ``[base − wander, base + wander]``. With the default
``wander = 0.45`` the best arm never changes (adjacent bases are 1 apart, so its lead never falls
below 0.1), yet the played arm's mean wanders by up to 0.9 over the horizon — a shift a
change-point test can see. Restarting never buys a better arm here; it only costs. Plain
Thompson Sampling, which never forgets, is the yardstick (issue 13: the system policy must stay
within 1.1× of it).

The common-drift world
----------------------
In :func:`slowly_varying` a restart costs almost nothing: its gaps are 1 to 4 σ, so relearning
the order takes a few dozen pulls, and a detector that fires eleven times a run pays no more than
one that never fires. What that world prices is the staleness floor. :func:`common_drift` is the
world where restarting is what costs: ten banners whose click rates (0.10 to 0.30, 0.022 apart)
all move with one shared level, the time-of-day or seasonal swing every banner feels alike, by
N(0, 0.01²) steps every 200 pulls within ±0.08. The order never changes, so a restart never buys
a better banner, yet the played banner's rate moves by up to 0.16 (a change a test sees), and
learning the order again costs hundreds of pulls of 0.022 gaps.

References
----------
A. Slivkins and E. Upfal, "Adapting to a changing environment: the Brownian restless bandits",
COLT 2008.

Examples
--------
>>> world = slowly_varying(horizon=2000, seed=0)
>>> world.n_arms, len(world.changes), world.horizon
(5, 45, 2000)
>>> [round(float(m), 2) for m in world.segments()[-1][2]]
[1.12, 2.04, 2.89, 3.87, 4.82]
>>> all(s[2].argmax() == 4 for s in world.segments())
True
>>> banners = common_drift(horizon=2000, seed=0)
>>> banners.n_arms, banners.kind, len({c.t for c in banners.changes})
(10, 'bernoulli', 9)
>>> all(np.all(np.diff(s[2]) > 0.02) for s in banners.segments())  # the order never changes
True
>>> [round(float(s[2][0] - 0.10), 4) for s in banners.segments()][-3:]  # the shared level
[-0.0187, -0.0243, -0.0207]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from banditops.bandit.arms import BernoulliArm, GaussianArm
from banditops.bandit.validators import is_integer
from banditops.sim.simulation import Instance

#: The slowly varying world's base means (scenario 3's arms).
SLOW_BASE: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)


def _reflect(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fold ``x`` back into ``[lo, hi]`` (a step past a wall comes back by what it overshot)."""
    width = hi - lo
    y = np.mod(x - lo, 2 * width)
    folded: np.ndarray = lo + np.where(y > width, 2 * width - y, y)
    return folded


def _check_walk(step_every: int, step_sd: float, wander: float) -> None:
    """The walk's knobs, refused in words that name the valid values."""
    if not is_integer(step_every) or step_every < 1:
        raise ValueError(f"step_every must be an integer >= 1 pull; got {step_every!r}")
    if not (step_sd > 0 and wander > 0):
        raise ValueError(f"step_sd and wander must be > 0; got {step_sd!r}, {wander!r}")


def slowly_varying(
    horizon: int = 20_000,
    seed: int = 0,
    *,
    step_every: int = 200,
    step_sd: float = 0.05,
    wander: float = 0.45,
    base: tuple[float, ...] = SLOW_BASE,
) -> Instance:
    """The slowly varying world (see the module docstring); ``seed`` fixes the walk, not the rewards."""
    _check_walk(step_every, step_sd, wander)
    rng = np.random.default_rng([13, 5, seed])
    centre = np.asarray(base, dtype=np.float64)
    lo, hi = centre - wander, centre + wander
    means, changes = centre.copy(), []
    for t in range(step_every, horizon, step_every):
        means = _reflect(means + rng.normal(0.0, step_sd, means.size), lo, hi)
        changes += [{"t": t, "arm": a, "mean": round(float(m), 4)} for a, m in enumerate(means)]
    return Instance.build([GaussianArm(mean=m) for m in base], changes, horizon)


#: The common-drift world's click rates: ten banners 0.022 apart.
COMMON_BASE: tuple[float, ...] = tuple(round(float(p), 4) for p in np.linspace(0.10, 0.30, 10))


def common_drift(
    horizon: int = 20_000,
    seed: int = 0,
    *,
    step_every: int = 200,
    step_sd: float = 0.01,
    wander: float = 0.08,
    base: tuple[float, ...] = COMMON_BASE,
) -> Instance:
    """The common-drift world (see the module docstring); ``seed`` fixes the shared level's walk."""
    _check_walk(step_every, step_sd, wander)
    centre = np.asarray(base, dtype=np.float64)
    if centre.min() - wander < 0 or centre.max() + wander > 1:
        raise ValueError(f"click rates must stay in [0, 1]: base ± wander spans "
                         f"[{centre.min() - wander:g}, {centre.max() + wander:g}]")
    rng = np.random.default_rng([13, 6, seed])
    lo, hi, level, changes = np.array([-wander]), np.array([wander]), np.zeros(1), []
    for t in range(step_every, horizon, step_every):
        level = _reflect(level + rng.normal(0.0, step_sd, 1), lo, hi)
        changes += [{"t": t, "arm": a, "p": round(float(p), 4)} for a, p in enumerate(centre + level[0])]
    return Instance.build([BernoulliArm(p=p) for p in base], changes, horizon)


#: Worlds by name, built from a horizon (``banditops simulate --scenario <name>``).
WORLDS: dict[str, Callable[[int], Instance]] = {"slowly_varying": slowly_varying, "common_drift": common_drift}
#: Their default horizons.
WORLD_HORIZONS: dict[str, int] = {"slowly_varying": 20_000, "common_drift": 20_000}
