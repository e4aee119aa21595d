//! Standard normal draws, shared by the crates that need Gaussian noise
//! (weight initialisation, SmoothGrad): `rand` 0.9 has no normal
//! distribution without `rand_distr`.

use rand::Rng;

/// `n` standard normal draws by the Box-Muller transform, both values of
/// each pair used (cos, then sin), so the sequence is a function of the
/// generator's stream alone.
pub fn standard_normals(rng: &mut impl Rng, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        out.push(r * theta.cos());
        out.push(r * theta.sin());
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Seed;

    #[test]
    fn moments_of_many_draws_are_those_of_a_standard_normal() {
        let v = standard_normals(&mut Seed(5).stream("normal"), 100_001);
        assert_eq!(v.len(), 100_001);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        // Standard errors: 1/sqrt(n) = 0.003 for the mean, ~0.0045 for the
        // variance; 5 of them as tolerance.
        assert!(mean.abs() < 0.016, "mean {mean}");
        assert!((var - 1.0).abs() < 0.023, "variance {var}");
        let again = standard_normals(&mut Seed(5).stream("normal"), 10);
        assert_eq!(&v[..10], &again[..]);
    }
}
