"""Charged-particle n-body simulator (the EGNN / NRI "charged particles" benchmark).

Written from the published description (Kipf et al. 2018, "Neural Relational Inference",
charged-particle system; Satorras et al. 2021, "E(n) Equivariant Graph Neural Networks",
its 3-D version used to benchmark equivariant models). All systems are integrated
together with vectorised numpy; there is no Python loop over systems.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from .._columns import named_point_layout
from .._validation import check_samples
from ..layouts import PointLayout
from ._base import check_bool, check_choice, check_flat, check_float, check_n, check_seed

__all__ = ["make_nbody", "simulate_nbody", "nbody_layout"]

_INTEGRATORS = ("euler", "leapfrog")


def nbody_layout(n_dims=3):
    """The layout of an n-body state: ``pos`` (position), ``vel`` (vector), ``charge`` (scalar).

    Parameters
    ----------
    n_dims : int, default=3
        Spatial dimension.

    Returns
    -------
    layout : PointLayout
        ``width = 2 * n_dims + 1`` columns per particle.
    """
    return PointLayout(n_dims, fields=[("pos", "position"), ("vel", "vector"), ("charge", "scalar")])


def _pair_incidence(n_particles):
    """Pairs ``i < j`` and the ``(n_particles, n_pairs)`` incidence matrix (+1 at i, -1 at j)."""
    ii, jj = np.triu_indices(n_particles, k=1)
    B = np.zeros((n_particles, ii.size))
    B[ii, np.arange(ii.size)] = 1.0
    B[jj, np.arange(ii.size)] = -1.0
    return ii, jj, B


def _forces(x, cc, ii, jj, B, max_force, strength):
    """Coulomb-like forces ``F_i = k Σ_j c_i c_j (x_i - x_j) / |x_i - x_j|^3``, norm-clipped."""
    diff = x[:, ii, :] - x[:, jj, :]                       # (n, pairs, d)
    r2 = np.einsum("npd,npd->np", diff, diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = strength * cc / (r2 * np.sqrt(r2))            # (n, pairs)
    coef = np.where(r2 > 0, coef, 0.0)                       # coincident particles: no force
    F = np.einsum("ip,npd->nid", B, coef[:, :, None] * diff)
    if np.isfinite(max_force):
        norm = np.sqrt(np.einsum("nid,nid->ni", F, F))
        scale = np.minimum(1.0, max_force / np.maximum(norm, 1e-300))
        F *= scale[:, :, None]
    return F


def simulate_nbody(X, n_steps=1000, dt=0.001, *, max_force=100.0, interaction_strength=1.0,
                   integrator="euler", n_dims=3):
    """Integrate charged-particle systems forward in time.

    Each particle ``i`` (unit mass) with charge ``c_i`` feels the force
    ``F_i = k Σ_{j≠i} c_i c_j (x_i - x_j) / |x_i - x_j|^3`` (like charges repel), whose
    Euclidean norm is clipped to ``max_force``. Clipping the norm (rather than each
    coordinate, as NRI's reference simulation does) keeps the simulator exactly
    E(d)-equivariant: rotating, reflecting and translating the initial state rotates,
    reflects and translates the whole trajectory. There are no walls (NRI's box is
    dropped, as in EGNN, since it would break the symmetry).

    Parameters
    ----------
    X : ndarray of shape (n_systems, n_particles * (2 * n_dims + 1)) or \
            (n_systems, n_particles, 2 * n_dims + 1)
        Initial states in :func:`nbody_layout` (positions, velocities, charge per
        particle, point-major). Not modified. A DataFrame whose column names name the
        layout's components (``p0_x, ..., p0_vel_x, ..., p0_charge``, as
        :func:`make_nbody`'s ``feature_names``) is read by those names, in any column
        order, as the estimators read it; other names are read in column order.
    n_steps : int, default=1000
        Number of time steps.
    dt : float, default=0.001
        Time step.
    max_force : float, default=100.0
        Maximum norm of the total force on a particle (NRI uses ``0.1 / dt``);
        ``np.inf`` disables clipping.
    interaction_strength : float, default=1.0
        Coupling constant ``k``.
    integrator : {"euler", "leapfrog"}, default="euler"
        ``"euler"``: NRI's semi-implicit (symplectic) Euler, ``x += dt·v`` then
        ``v += dt·F(x)``. ``"leapfrog"``: velocity Verlet (half kick, drift, half kick),
        second order. Both cost one force evaluation per step.
    n_dims : int, default=3
        Spatial dimension.

    Returns
    -------
    X_final : ndarray
        States after ``n_steps`` steps, same shape and layout as ``X`` (for a DataFrame
        read by name: an array in the frame's column order). Integrated in float64;
        returned as float32 for float32 input, else float64.

    Examples
    --------
    >>> import numpy as np
    >>> from skcanon.datasets import make_nbody, simulate_nbody
    >>> d = make_nbody(n_train=4, n_val=1, n_test=1, n_steps=10, random_state=0)
    >>> simulate_nbody(d.train.data, n_steps=10).shape
    (4, 35)
    """
    # a DataFrame's names decide which column is which (read in column order, swapped
    # position and velocity columns were integrated silently)
    layout = named_point_layout(nbody_layout(n_dims), X) or nbody_layout(n_dims)
    P, ndim = check_samples(X, layout, allow_absent_points=False, dtype=(np.float64, np.float32))
    out_dtype = P.dtype
    P = P.astype(np.float64)   # float32 steps would drift; the result is cast back
    n_steps = check_n(n_steps, "n_steps", allow_none=False, minimum=0)
    dt = check_float(dt, "dt", strict=True)
    max_force = check_float(max_force, "max_force", strict=True, allow_inf=True)
    strength = check_float(interaction_strength, "interaction_strength")
    check_choice(integrator, "integrator", _INTEGRATORS)

    pos_sl, vel_sl, c_sl = (layout.slice_of(k) for k in ("pos", "vel", "charge"))
    x = P[:, :, pos_sl].copy()
    v = P[:, :, vel_sl].copy()
    c = P[:, :, c_sl][:, :, 0]
    ii, jj, B = _pair_incidence(P.shape[1])
    with np.errstate(over="ignore", invalid="ignore"):   # an overflow is refused below, by name
        cc = c[:, ii] * c[:, jj]
        args = (cc, ii, jj, B, max_force, strength)
        if integrator == "euler":
            for _ in range(n_steps):
                x += dt * v
                v += dt * _forces(x, *args)
        else:
            F = _forces(x, *args)
            half = 0.5 * dt
            for _ in range(n_steps):
                v += half * F
                x += dt * v
                F = _forces(x, *args)
                v += half * F
    bad = ~(np.isfinite(x).all(axis=(1, 2)) & np.isfinite(v).all(axis=(1, 2)))
    if bad.any():   # the squares of the distances or forces overflowed float64
        raise ValueError(
            f"simulate_nbody overflowed float64 in {int(bad.sum())} state(s) of X (states "
            f"{np.flatnonzero(bad)[:5].tolist()}): their positions, velocities or charges are too large "
            "(the forces square distances and multiply charges). Rescale X (positions near 1, charges "
            "near ±1), or lower dt.")
    out = P.copy()
    out[:, :, pos_sl] = x
    out[:, :, vel_sl] = v
    return layout.from_working(out.astype(out_dtype, copy=False), ndim)


def _initial_states(n, n_particles, n_dims, position_scale, speed, rs):
    x = rs.standard_normal((n, n_particles, n_dims)) * position_scale
    v = rs.standard_normal((n, n_particles, n_dims))
    v *= speed / np.linalg.norm(v, axis=2, keepdims=True)
    c = rs.choice(np.array([-1.0, 1.0]), size=(n, n_particles, 1))
    return np.concatenate([x, v, c], axis=2)


_NBODY_DESCR = """\
Charged n-body systems (EGNN / NRI benchmark, simulated by skcanon)
------------------------------------------------------------------
{n_particles} unit-mass particles in {n_dims}-D with charges +/-1 (uniform), Coulomb-like
pairwise forces F_i = k sum_j c_i c_j (x_i - x_j)/|x_i - x_j|^3 with the force norm clipped
to max_force={max_force}, integrated with the {integrator} scheme at dt={dt}.
Initial positions ~ N(0, {position_scale}^2 I), initial velocities of speed {speed} in
uniformly random directions; the state is then advanced by n_burn_in={n_burn_in} steps.
data   : state at the input frame, PointLayout pos:position, vel:vector, charge:scalar.
target : positions n_steps={n_steps} steps (time {horizon:g}) later, PointLayout pos:position.
In EGNN's setting (trajectories sampled every 100 steps, input frame 30, target frame 40)
the target is 1,000 steps after the input; use n_burn_in=3000 to match that exactly.
The map data -> target is E({n_dims})-equivariant and S_n-equivariant.
"""


def make_nbody(n_train=3000, n_val=2000, n_test=2000, n_particles=5, n_steps=1000, dt=0.001,
               random_state=None, *, n_dims=3, n_burn_in=0, position_scale=1.0, speed=0.5,
               max_force=100.0, interaction_strength=1.0, integrator="euler", flat=True,
               return_X_y=False):
    """Generate the charged-particle n-body regression benchmark (train/val/test).

    Follows the 3-D charged-particle task of Satorras et al. (2021, EGNN), itself the
    charged system of Kipf et al. (2018, NRI): predict every particle's position a fixed
    number of steps ahead from positions, velocities and charges at one frame. See
    :func:`simulate_nbody` for the dynamics. All ``n_train + n_val + n_test`` systems are
    drawn and simulated together, then split in that order.

    Which systems a split holds: the initial positions of all systems are drawn first, then
    all their velocities, then all their charges. The training systems therefore depend on
    ``random_state``, the physical parameters and ``n_train``, and also on the total
    ``n_train + n_val + n_test``: changing only ``n_val`` or ``n_test`` keeps the training
    positions (the first ``n_train`` systems' positions never depend on the sizes) but
    gives them other velocities and charges, hence other targets. To keep a training set
    fixed across experiments, pass the same ``n_train``, ``n_val`` and ``n_test`` (with
    the same ``random_state`` and other parameters), then subset the validation or test
    split yourself. Equal sizes always give the same data, bit for bit.

    Parameters
    ----------
    n_train, n_val, n_test : int, default=3000, 2000, 2000
        Number of systems per split (EGNN's sizes). ``n_val`` and ``n_test`` may be 0.
    n_particles : int, default=5
        Particles per system.
    n_steps : int, default=1000
        Steps between the input frame and the target frame (EGNN: 1,000 steps of
        ``dt = 0.001``, i.e. 10 samples at NRI's sampling frequency of 100 steps).
    dt : float, default=0.001
        Time step.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial states (positions, velocities, charges); see above for how the
        split sizes enter.
    n_dims : int, default=3
        Spatial dimension.
    n_burn_in : int, default=0
        Steps simulated from the random initial state before the input frame. EGNN's input
        is frame 30 sampled every 100 steps: ``n_burn_in=3000`` (four times slower).
    position_scale : float, default=1.0
        Standard deviation of the initial positions (NRI's ``loc_std``).
    speed : float, default=0.5
        Initial speed of every particle (NRI's ``vel_norm``).
    max_force : float, default=100.0
        Clip of the force norm (``0.1 / dt`` as in NRI); ``np.inf`` disables it.
    interaction_strength : float, default=1.0
        Coupling constant.
    integrator : {"euler", "leapfrog"}, default="euler"
        Time integrator, see :func:`simulate_nbody`.
    flat : bool, default=True
        ``True``: ``data`` is ``(n, n_particles * (2 n_dims + 1))`` and ``target``
        ``(n, n_particles * n_dims)``, point-major. ``False``: 3-D arrays
        ``(n, n_particles, width)``.
    return_X_y : bool, default=False
        Return ``(X_train, y_train, X_val, y_val, X_test, y_test)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With keys ``train``, ``val``, ``test`` — each a Bunch with ``data``, ``target``
        and the shared descriptors — and the shared ``layout`` (input layout, fields
        ``pos:position, vel:vector, charge:scalar``), ``target_layout`` (``pos:position``),
        ``feature_names``, ``target_names`` and ``DESCR``.
    (X_train, y_train, X_val, y_val, X_test, y_test) : tuple of ndarray
        When ``return_X_y=True``.

    Examples
    --------
    >>> from skcanon.datasets import make_nbody
    >>> d = make_nbody(n_train=8, n_val=2, n_test=2, n_steps=50, random_state=0)
    >>> d.train.data.shape, d.train.target.shape
    ((8, 35), (8, 15))
    >>> d.layout
    PointLayout(n_dims=3, fields=[pos:position[3], vel:vector[3], charge:scalar[1]])
    """
    n_train = check_n(n_train, "n_train", allow_none=False)
    n_val = check_n(n_val, "n_val", allow_none=False, minimum=0)
    n_test = check_n(n_test, "n_test", allow_none=False, minimum=0)
    n_particles = check_n(n_particles, "n_particles", allow_none=False, minimum=2)
    n_dims = check_n(n_dims, "n_dims", allow_none=False)
    n_burn_in = check_n(n_burn_in, "n_burn_in", allow_none=False, minimum=0)
    n_steps_checked = check_n(n_steps, "n_steps", allow_none=False, minimum=0)
    position_scale = check_float(position_scale, "position_scale", strict=True)
    speed = check_float(speed, "speed")
    flat = check_flat(flat)
    return_X_y = check_bool(return_X_y, "return_X_y")
    rs = check_seed(random_state)
    kw = dict(dt=dt, max_force=max_force, interaction_strength=interaction_strength,
              integrator=integrator, n_dims=n_dims)

    n = n_train + n_val + n_test
    S = _initial_states(n, n_particles, n_dims, position_scale, speed, rs)
    if n_burn_in:
        S = simulate_nbody(S, n_burn_in, **kw)
    S_final = simulate_nbody(S, n_steps_checked, **kw)

    layout = nbody_layout(n_dims)
    target_layout = PointLayout(n_dims)
    Y = S_final[:, :, layout.slice_of("pos")]
    if flat:
        S, Y = S.reshape(n, -1), Y.reshape(n, -1)
    descr = _NBODY_DESCR.format(n_particles=n_particles, n_dims=n_dims, max_force=max_force,
                                integrator=integrator, dt=dt, position_scale=position_scale,
                                speed=speed, n_burn_in=n_burn_in, n_steps=n_steps_checked,
                                horizon=n_steps_checked * float(dt))
    shared = dict(layout=layout, target_layout=target_layout,
                  feature_names=layout.feature_names(n_particles),
                  target_names=target_layout.feature_names(n_particles), DESCR=descr)
    bounds = np.cumsum([0, n_train, n_val, n_test])
    splits = {}
    for name, a, b in zip(("train", "val", "test"), bounds[:-1], bounds[1:]):
        splits[name] = Bunch(data=S[a:b].copy(), target=Y[a:b].copy(), **shared)
    if return_X_y:
        return tuple(arr for s in splits.values() for arr in (s.data, s.target))
    return Bunch(**splits, **shared)
