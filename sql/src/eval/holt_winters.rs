//! holt_winters() forecasting over a whole series of window values.

/// Holt-Winters forecast of `n` points after the series `points` (window
/// start, value), with seasonal period `season`; `with_fit` also returns the
/// fitted values for the input points.
pub fn holt_winters(
    points: &[(i64, f64)],
    n: usize,
    season: usize,
    interval: i64,
    with_fit: bool,
) -> Vec<(i64, f64)> {
    let _ = (points, n, season, interval, with_fit);
    Vec::new()
}
