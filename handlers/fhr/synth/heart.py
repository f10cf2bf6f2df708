"""Cardiac sources: a dipole per heart (McSharry's ECGSYN / FECGSYN style) seen through lead vectors.

Each heart is a 3-D current dipole whose components are sums of Gaussian P, Q, R, S and T waves.
A channel's potential is the dipole dotted with that channel's lead vector, which follows from the
geometry: an electrode at ``e`` sees a dipole at ``h`` through ``(e - h) / |e - h|^3`` (infinite
homogeneous volume conductor), minus the same for the shared reference electrode. The maternal heart
is far from the abdominal electrodes, so its lead vectors are alike across channels; the fetal heart
is close, so its morphology changes from channel to channel, as in real abdominal recordings.

Rendering is vectorised: a beat template is evaluated once per source and placed at every beat with
``np.bincount`` (a sparse convolution of the beat train with the template). Respiration (mother) and
fetal movement (fetus) modulate the amplitude and rotate the cardiac axis slowly from beat to beat;
a small rotation is linear in the angle, so it costs one more rendered train, not one per beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Wave order: P, Q, R, S, T. Offsets and widths in seconds relative to the R peak.
_MATERNAL_OFFSETS = np.array([-0.20, -0.035, 0.0, 0.035, 0.26])
_MATERNAL_WIDTHS = np.array([0.025, 0.010, 0.011, 0.010, 0.055])
_MATERNAL_AMPLITUDES = np.array(  # rows: dipole x, y, z in the heart's own frame
    [
        [0.10, -0.10, 1.00, -0.25, 0.30],
        [0.08, -0.05, 0.55, -0.35, 0.18],
        [-0.03, 0.10, -0.35, 0.15, -0.10],
    ]
)
_MATERNAL_WINDOW_S = (-0.32, 0.48)

_FETAL_OFFSETS = np.array([-0.10, -0.018, 0.0, 0.018, 0.14])
_FETAL_WIDTHS = np.array([0.013, 0.0055, 0.0065, 0.0055, 0.03])
_FETAL_AMPLITUDES = np.array(
    [
        [0.06, -0.15, 1.00, -0.40, 0.15],
        [0.04, 0.10, -0.60, 0.20, -0.08],
        [0.05, -0.10, 0.70, -0.30, 0.12],
    ]
)
_FETAL_WINDOW_S = (-0.16, 0.26)

# Body frame in cm: origin at the navel, x to the mother's left, y towards her head, z anterior.
MATERNAL_HEART_CM = np.array([-3.0, 30.0, -8.0])
_REFERENCE_ELECTRODE_CM = np.array([0.0, -16.0, -2.0])
_ABDOMEN_RADIUS_CM = 15.0


@dataclass(frozen=True)
class Source:
    """One heart: its beat template (window, 3 components) and its per-channel lead matrix."""

    template: np.ndarray  # (L, 3) dipole components, arbitrary units
    lead_offset: int  # samples from the window start to the R peak
    leads: np.ndarray  # (C, 3): channel potential = leads @ dipole


def beat_template(rng: np.random.Generator, fs: float, *, fetal: bool, jitter: float = 0.15) -> tuple[np.ndarray, int]:
    """Sample one beat's three dipole components at ``fs``; amplitudes and timings jittered per seed."""
    offsets, widths, amplitudes, window = (
        (_FETAL_OFFSETS, _FETAL_WIDTHS, _FETAL_AMPLITUDES, _FETAL_WINDOW_S)
        if fetal
        else (_MATERNAL_OFFSETS, _MATERNAL_WIDTHS, _MATERNAL_AMPLITUDES, _MATERNAL_WINDOW_S)
    )
    offsets = offsets * (1.0 + 0.5 * jitter * rng.uniform(-1, 1, offsets.shape))
    widths = widths * (1.0 + 0.5 * jitter * rng.uniform(-1, 1, widths.shape))
    amplitudes = amplitudes * (1.0 + jitter * rng.uniform(-1, 1, amplitudes.shape))
    start = int(np.floor(window[0] * fs))
    t = np.arange(start, int(np.ceil(window[1] * fs)) + 1) / fs
    gauss = np.exp(-0.5 * ((t[:, None] - offsets[None, :]) / widths[None, :]) ** 2)  # (L, 5)
    return gauss @ amplitudes.T, -start


def electrode_positions(rng: np.random.Generator, channels: int) -> np.ndarray:
    """(C, 3) electrode positions on a cylinder-shaped abdomen: a jittered grid around the navel."""
    cols = int(np.ceil(np.sqrt(channels)))
    rows = int(np.ceil(channels / cols))
    angles = np.linspace(-60, 60, cols) if cols > 1 else np.array([0.0])
    heights = np.linspace(-10, 10, rows) if rows > 1 else np.array([0.0])
    grid = np.array([(a, y) for y in heights for a in angles])[:channels]
    alpha = np.deg2rad(grid[:, 0] + rng.uniform(-4, 4, channels))
    y = grid[:, 1] + rng.uniform(-1.5, 1.5, channels)
    r = _ABDOMEN_RADIUS_CM
    return np.column_stack((r * np.sin(alpha), y, r * np.cos(alpha) - r))


def lead_matrix(electrodes: np.ndarray, heart: np.ndarray) -> np.ndarray:
    """(C, 3) lead vectors of a dipole at ``heart`` for electrodes referred to the common reference."""

    def field(points: np.ndarray) -> np.ndarray:
        d = points - heart
        return d / np.linalg.norm(d, axis=-1, keepdims=True) ** 3

    return field(electrodes) - field(_REFERENCE_ELECTRODE_CM[None, :])


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3-D rotation (from a random unit quaternion)."""
    w, x, y, z = (q := rng.standard_normal(4)) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues' rotation about a unit ``axis``."""
    k = skew(axis / np.linalg.norm(axis))
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def skew(u: np.ndarray) -> np.ndarray:
    """The matrix of ``v -> u x v``."""
    return np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])


def maternal_orientation(rng: np.random.Generator) -> np.ndarray:
    """The maternal heart's frame: its main axis points down and to the left (about +40° in the frontal
    plane), give or take 15° per subject."""
    nominal = axis_rotation(np.array([0.0, 0.0, 1.0]), np.deg2rad(-130.0))
    tilt = axis_rotation(rng.standard_normal(3), np.deg2rad(rng.uniform(0, 15)))
    return tilt @ nominal


def fetal_heart_position(rng: np.random.Generator) -> np.ndarray:
    """Somewhere inside the uterus, a few centimetres behind the abdominal wall."""
    return np.array([rng.uniform(-6, 6), rng.uniform(-8, 4), rng.uniform(-12, -6)])


def render_source(
    n_samples: int,
    beats: np.ndarray,
    template: np.ndarray,
    r_offset: int,
    projection: np.ndarray,
    gains: np.ndarray,
    angles: np.ndarray,
    wobble_axis: np.ndarray,
) -> np.ndarray:
    """(n, C) float32 potentials of a heart beating at sample indices ``beats``.

    Beat i is ``gains[i] * R(angles[i]) @ template`` projected by ``projection`` (C, 3). For the small
    angles used, ``R(a) ≈ I + a K`` (K the cross-product matrix of ``wobble_axis``), so the whole train
    is two sparse convolutions: one weighted by the gains, one by gains x angles.
    """
    length = template.shape[0]
    # Shift every index by ``r_offset`` so beats near the start stay non-negative; no masks needed.
    index = (beats[:, None] + np.arange(length)[None, :]).ravel()
    rotated = projection @ skew(wobble_axis / np.linalg.norm(wobble_axis))
    trains = np.empty((n_samples, 6), dtype=np.float32)
    for slot, (weights, axis) in enumerate((w, a) for w in (gains, gains * angles) for a in range(3)):
        column = np.multiply.outer(weights, template[:, axis]).ravel()
        train = np.bincount(index, weights=column, minlength=n_samples + length)
        trains[:, slot] = train[r_offset : r_offset + n_samples]
    mixing = np.concatenate((projection, rotated), axis=1).T.astype(np.float32)  # (6, C)
    return trains @ mixing


def template_peak(template: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """Per-channel peak |potential| of one beat: what 'amplitude' means when scaling the sources."""
    return np.abs(template @ projection.T).max(axis=0)
