"""Solar geometry and clear-sky irradiance (pure, vectorised over epoch milliseconds).

Sun position from NOAA's general solar position equations (Spencer's Fourier series
for the equation of time and declination, good to a few minutes); clear-sky global
horizontal irradiance from the Haurwitz model, GHI = 1098 cos(z) exp(-0.057 / cos(z)).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_DAY_MS = 86_400_000


def _gamma(ts_ms: I64) -> F64:
    t = ts_ms.astype("datetime64[ms]")
    day_of_year = (t.astype("datetime64[D]") - t.astype("datetime64[Y]")).astype(np.int64) + 1
    hour = (ts_ms % _DAY_MS) / 3_600_000.0
    return np.asarray(2 * np.pi / 365 * (day_of_year - 1 + (hour - 12) / 24), dtype=np.float64)


def _eqtime_min(g: F64) -> F64:
    return np.asarray(
        229.18
        * (
            0.000075
            + 0.001868 * np.cos(g)
            - 0.032077 * np.sin(g)
            - 0.014615 * np.cos(2 * g)
            - 0.040849 * np.sin(2 * g)
        ),
        dtype=np.float64,
    )


def _declination(g: F64) -> F64:
    return np.asarray(
        0.006918
        - 0.399912 * np.cos(g)
        + 0.070257 * np.sin(g)
        - 0.006758 * np.cos(2 * g)
        + 0.000907 * np.sin(2 * g)
        - 0.002697 * np.cos(3 * g)
        + 0.00148 * np.sin(3 * g),
        dtype=np.float64,
    )


def cos_zenith(ts_ms: I64, *, lat: float, lon: float) -> F64:
    """Cosine of the solar zenith angle; negative when the sun is below the horizon."""
    g = _gamma(ts_ms)
    minutes_utc = (ts_ms % _DAY_MS) / 60_000.0
    true_solar_min = minutes_utc + _eqtime_min(g) + 4.0 * lon
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    decl = _declination(g)
    phi = np.radians(lat)
    return np.asarray(
        np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle),
        dtype=np.float64,
    )


def solar_noon_ms(day_start_utc_ms: int, *, lon: float) -> int:
    """Epoch ms of solar noon on the UTC day starting at ``day_start_utc_ms``."""
    noon = np.array([day_start_utc_ms + _DAY_MS // 2], dtype=np.int64)
    eqtime = float(_eqtime_min(_gamma(noon))[0])
    return day_start_utc_ms + int((720.0 - 4.0 * lon - eqtime) * 60_000)


def clear_sky_ghi_w_m2(ts_ms: I64, *, lat: float, lon: float) -> F64:
    """Haurwitz clear-sky global horizontal irradiance, W/m2; exactly 0 at night."""
    cz = cos_zenith(ts_ms, lat=lat, lon=lon)
    safe = np.where(cz > 0.0, cz, 1.0)
    ghi = 1098.0 * safe * np.exp(-0.057 / safe)
    return np.asarray(np.where(cz > 0.0, ghi, 0.0), dtype=np.float64)
