//! `rls-harness fuzz --partition K/N`: the seeds of the jobs of a CI matrix.

/// The distance between the seeds of two fuzz partitions (2^64 / golden ratio, odd).
const PARTITION_STRIDE: u64 = 0x9e37_79b9_7f4a_7c15;

/// The seed of fuzz job `job` (1-based) of a run from `seed`. Each connection adds one
/// to its job's seed, so jobs a large odd stride apart never draw the same worlds; the
/// job's own seed replays it alone (`fuzz --seed`), and names its counterexample files.
pub fn partition_seed(seed: u64, job: u64) -> u64 {
    seed.wrapping_add((job - 1).wrapping_mul(PARTITION_STRIDE))
}

/// `K/N` with 1 ≤ K ≤ N.
pub fn parse_partition(text: &str) -> Result<(u64, u64), String> {
    let (job, jobs) = text
        .split_once('/')
        .ok_or_else(|| format!("\"{text}\" is not K/N (for example 2/4)"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("\"{part}\" in \"{text}\" is not a whole number"))
    };
    let (job, jobs) = (number(job)?, number(jobs)?);
    if job == 0 || job > jobs {
        return Err(format!("job {job} of {jobs}: K must be between 1 and N"));
    }
    Ok((job, jobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_k_of_n() {
        assert_eq!(parse_partition("2/4"), Ok((2, 4)));
        assert_eq!(parse_partition("1/1"), Ok((1, 1)));
        for bad in ["0/4", "5/4", "2", "a/4", "2/"] {
            assert!(parse_partition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partitions_draw_disjoint_seeds() {
        let seed = u64::MAX - 3;
        let mut drawn = std::collections::BTreeSet::new();
        for job in 1..=16 {
            // Each job's connections use its seed plus 0..connections.
            for connection in 0..64 {
                assert!(drawn.insert(partition_seed(seed, job).wrapping_add(connection)));
            }
        }
        assert_eq!(partition_seed(seed, 1), seed);
    }
}
