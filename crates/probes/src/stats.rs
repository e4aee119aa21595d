//! Order statistics shared by the probes' reports.

/// The median of values sorted ascending (the mean of the two middle ones
/// for an even count); `None` for no values. Infinite values may be part
/// of the sample: the result is then infinite when a middle value is.
pub(crate) fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(0.5 * (sorted[n / 2 - 1] + sorted[n / 2])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty_samples() {
        assert_eq!(median_of_sorted(&[]), None);
        assert_eq!(median_of_sorted(&[1.0, 2.0, 7.0]), Some(2.0));
        assert_eq!(median_of_sorted(&[1.0, 2.0, 4.0, 7.0]), Some(3.0));
        assert_eq!(median_of_sorted(&[1.0, f64::INFINITY]), Some(f64::INFINITY));
    }
}
